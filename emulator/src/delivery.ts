import Stripe from 'stripe';
import type { EmittedEvent, StripeRecord } from './store.js';

export interface DeliveryTarget {
  url: string;
  secret: string;
  /** Event types to send, or `*`. */
  enabledEvents: readonly string[];
}

export interface DeliveryOptions {
  /** Attempts per event and target, retries spaced by a doubling backoff. */
  attempts?: number;
  firstRetryMs?: number;
  onResult?: (result: { eventId: string; url: string; status: number | 'error'; attempt: number }) => void;
}

/** The enabled webhook endpoints of the account, as delivery targets. */
export const endpointTargets = (endpoints: Iterable<StripeRecord>): DeliveryTarget[] =>
  [...endpoints]
    .filter((endpoint) => endpoint.status === 'enabled')
    .map((endpoint) => ({
      url: endpoint.url as string,
      secret: endpoint.secret as string,
      enabledEvents: endpoint.enabled_events as string[],
    }));

/**
 * Sends an event as Stripe does: a JSON POST signed with the target's secret (`Stripe-Signature`,
 * scheme v1), retried with backoff until a 2xx answer or the attempts run out (at least once).
 */
export const deliverEvent = async (
  event: EmittedEvent,
  target: DeliveryTarget,
  options: DeliveryOptions = {},
) => {
  if (!target.enabledEvents.includes('*') && !target.enabledEvents.includes(event.type)) return;
  const attempts = options.attempts ?? 6;
  const payload = JSON.stringify(event, null, 2);
  for (let attempt = 1; attempt <= attempts; attempt += 1) {
    const signature = Stripe.webhooks.generateTestHeaderString({
      payload,
      secret: target.secret,
      timestamp: Math.floor(Date.now() / 1000),
    });
    let status: number | 'error' = 'error';
    try {
      const response = await fetch(target.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json; charset=utf-8',
          'stripe-signature': signature,
          'user-agent': 'Stripe/1.0 (+https://stripe.com/docs/webhooks)',
        },
        body: payload,
        signal: AbortSignal.timeout(10_000),
      });
      await response.arrayBuffer();
      status = response.status;
    } catch {
      status = 'error';
    }
    options.onResult?.({ eventId: event.id, url: target.url, status, attempt });
    if (typeof status === 'number' && status >= 200 && status < 300) return;
    if (attempt < attempts)
      await new Promise((resolve) => setTimeout(resolve, (options.firstRetryMs ?? 200) * 2 ** (attempt - 1)));
  }
};
