import type { Environment } from '../domain/environment.js';
import { environmentOfLivemode, isEnvironment } from '../domain/environment.js';
import { stripeEventLogEntry } from '../domain/event-log.js';
import { jsonNestingDepth, maxJsonNesting, stripeEventEnvelopeSchema } from '../domain/stripe-event.js';
import { type EventLog, LogBusyError, LogUnavailableError } from '../ports/event-log.js';
import type { VerifyStripeSignature } from '../ports/stripe.js';

export type WebhookRejection =
  | 'unknown_environment'
  | 'no_signing_secret'
  | 'missing_signature'
  | 'bad_signature'
  | 'not_json'
  | 'too_deeply_nested'
  | 'invalid_event'
  | 'livemode_mismatch'
  | 'body_too_large'
  | 'log_busy'
  | 'log_unavailable'
  | 'secrets_unavailable'
  | 'append_failed';

/** What the webhook door counts (Prometheus, in `payfold serve`). */
export interface WebhookMetrics {
  stored(environment: Environment, duplicate: boolean): void;
  rejected(reason: WebhookRejection): void;
  /** Starts timing one append; the function it returns stops the clock. */
  appendStarted(): () => void;
}

export interface StripeWebhookRequest {
  environment: string;
  rawBody: Buffer;
  signatureHeader: string | undefined;
}

export type StripeWebhookOutcome =
  | { kind: 'stored'; duplicate: boolean }
  | { kind: 'rejected'; status: 400 | 404 | 503; reason: WebhookRejection; message: string };

export interface StripeWebhookDeps {
  log: EventLog;
  /** The `stripe` package's check (`src/adapters/stripe/webhook-signature.ts`). */
  verifySignature: VerifyStripeSignature;
  metrics: WebhookMetrics;
  /** Every active signing secret of an environment: env-provided and managed endpoints'. */
  webhookSecrets: (environment: Environment) => Promise<readonly string[]>;
  /** Counts a redelivery of an event the log holds (shown on the dashboard). */
  recordRedelivery?: (environment: Environment, eventId: string) => Promise<void>;
}

const rejected = (
  status: 400 | 404 | 503,
  reason: WebhookRejection,
  message: string,
): StripeWebhookOutcome & { kind: 'rejected' } => ({ kind: 'rejected', status, reason, message });

/**
 * Verify, append, answer. Nothing is written unless the signature, the JSON and the environment
 * all check out; `stored` is returned only once the entry is durably committed.
 */
export const ingestStripeWebhook = async (
  request: StripeWebhookRequest,
  deps: StripeWebhookDeps,
): Promise<StripeWebhookOutcome> => {
  const outcome = await verifyAndAppend(request, deps);
  if (outcome.kind === 'rejected') deps.metrics.rejected(outcome.reason);
  return outcome;
};

const verifyAndAppend = async (
  { environment, rawBody, signatureHeader }: StripeWebhookRequest,
  { log, metrics, webhookSecrets, recordRedelivery, verifySignature }: StripeWebhookDeps,
): Promise<StripeWebhookOutcome> => {
  if (!isEnvironment(environment)) return rejected(404, 'unknown_environment', 'Unknown environment');
  let secrets: readonly string[];
  try {
    secrets = await webhookSecrets(environment);
  } catch {
    // The managed endpoint's secrets are in Postgres: while it cannot be read, Stripe must retry.
    return rejected(503, 'secrets_unavailable', 'The signing secrets cannot be read now; retry shortly');
  }
  if (secrets.length === 0) {
    // 503 makes Stripe retry the delivery, so no event is lost while an admin adds the secret.
    return rejected(503, 'no_signing_secret', `No webhook signing secret is configured for ${environment}`);
  }
  if (!signatureHeader) return rejected(400, 'missing_signature', 'Missing Stripe-Signature header');
  const body = rawBody.toString('utf8');
  if (jsonNestingDepth(body) > maxJsonNesting) {
    return rejected(400, 'too_deeply_nested', `The body nests deeper than ${maxJsonNesting} levels`);
  }
  const check = verifySignature(body, signatureHeader, secrets);
  if (!check.ok) {
    return check.reason === 'not_json'
      ? rejected(400, 'not_json', 'The body is not JSON')
      : rejected(400, 'bad_signature', 'The Stripe signature does not match or is too old');
  }
  const parsed = stripeEventEnvelopeSchema.safeParse(check.event);
  if (!parsed.success) return rejected(400, 'invalid_event', 'The body is not a Stripe event');
  const event = parsed.data;
  if (environmentOfLivemode(event.livemode) !== environment) {
    return rejected(
      400,
      'livemode_mismatch',
      `A livemode=${event.livemode} event cannot be sent to ${environment}`,
    );
  }
  const stopTimer = metrics.appendStarted();
  let result: Awaited<ReturnType<EventLog['append']>>;
  try {
    result = await log.append(stripeEventLogEntry(environment, body, event));
  } catch (error) {
    // Stripe retries a 503: the event comes again, and a commit that came late is then a duplicate.
    if (error instanceof LogBusyError)
      return rejected(503, 'log_busy', 'The event log is busy; retry shortly');
    if (error instanceof LogUnavailableError)
      return rejected(503, 'log_unavailable', 'The event log is unavailable; retry shortly');
    throw error;
  } finally {
    stopTimer();
  }
  const duplicate = result.status === 'duplicate';
  metrics.stored(environment, duplicate);
  // A count to show: failing to record it must not turn an acknowledged duplicate into a retry.
  if (duplicate) await recordRedelivery?.(environment, event.id).catch(() => undefined);
  return { kind: 'stored', duplicate };
};
