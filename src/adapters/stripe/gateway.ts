import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import Stripe from 'stripe';
import type { Environment } from '../../domain/environment.js';
import {
  type StripeCall,
  StripeGatewayError,
  type StripeGateway as StripeGatewayPort,
} from '../../ports/stripe.js';

/** Requests per second to Stripe per environment, under Stripe's own limits (100 live, 25 test). */
const defaultRates: Record<Environment, number> = { live: 25, test: 10 };

export interface StripeGatewayOptions {
  logger: Logger;
  /** Stripe's API base: `https://api.stripe.com` unless pointed at the emulator (`STRIPE_API_BASE`). */
  apiBase?: string;
  requestsPerSecond?: Partial<Record<Environment, number>>;
  /** Attempts after the first for a 429, a 5xx or a lost connection (default 4). */
  maxRetries?: number;
  /** The first retry's wait; each next one doubles, with jitter (default 500 ms). */
  retryBaseMs?: number;
  /** The longest wait a `Retry-After` may impose before the gateway gives up on it (default 60 s). */
  maxRetryAfterMs?: number;
}

/** What the `stripe` package reports after each response (its own type is not exported). */
interface StripeResponseEvent {
  method?: string;
  path?: string;
  status?: number;
  request_id?: string;
  elapsed: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A token bucket: `rate` requests a second on average, bursts up to `rate`. */
class TokenBucket {
  private tokens: number;
  private last = performance.now();
  private queue: Promise<void> = Promise.resolve();

  constructor(private readonly rate: number) {
    this.tokens = rate;
  }

  take(): Promise<void> {
    // One taker at a time, so waiting callers are served in order.
    const turn = this.queue.then(async () => {
      for (;;) {
        const now = performance.now();
        this.tokens = Math.min(this.rate, this.tokens + ((now - this.last) / 1000) * this.rate);
        this.last = now;
        if (this.tokens >= 1) {
          this.tokens -= 1;
          return;
        }
        await sleep(((1 - this.tokens) / this.rate) * 1000);
      }
    });
    this.queue = turn;
    return turn;
  }
}

const isRetryable = (error: unknown): error is Stripe.errors.StripeError =>
  error instanceof Stripe.errors.StripeConnectionError ||
  error instanceof Stripe.errors.StripeRateLimitError ||
  (error instanceof Stripe.errors.StripeError && (error.statusCode ?? 0) >= 500);

const retryAfterMs = (error: Stripe.errors.StripeError): number | undefined => {
  const header = (error.headers as Record<string, string | undefined> | undefined)?.['retry-after'];
  const seconds = header === undefined ? Number.NaN : Number(header);
  return Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : undefined;
};

/**
 * Every call Payfold makes to Stripe goes through here: the environment's key, the API version
 * the `stripe` package pins, a token-bucket rate limit per environment, retries of 429 (after its
 * `Retry-After`), 5xx and lost connections with exponential backoff and jitter, one idempotency
 * key per call reused by its retries, and a log line per response with method, path, status and
 * request id only.
 */
/** Every call to Stripe: one client per key, a rate limit per environment, retries, idempotency keys. */
export class StripeGateway implements StripeGatewayPort {
  private readonly buckets: Record<Environment, TokenBucket>;
  private readonly clients = new Map<string, Stripe>();
  private readonly maxRetries: number;
  private readonly retryBaseMs: number;
  private readonly maxRetryAfterMs: number;

  constructor(private readonly options: StripeGatewayOptions) {
    this.buckets = {
      test: new TokenBucket(options.requestsPerSecond?.test ?? defaultRates.test),
      live: new TokenBucket(options.requestsPerSecond?.live ?? defaultRates.live),
    };
    this.maxRetries = options.maxRetries ?? 4;
    this.retryBaseMs = options.retryBaseMs ?? 500;
    this.maxRetryAfterMs = options.maxRetryAfterMs ?? 60_000;
  }

  /**
   * Runs one call (it may make one request, or page through several) with the environment's key.
   * The whole call is retried from the start, so `run` must be safe to repeat: reads, and POSTs
   * that pass `requestOptions` (Stripe answers a repeated idempotency key with the first answer).
   */
  async call<T>(
    environment: Environment,
    secretKey: string,
    run: (call: StripeCall) => Promise<T>,
    /** A key that names the change for longer than this call: a session request's, say. */
    idempotencyKey = `payfold-${randomUUID()}`,
  ): Promise<T> {
    const stripe = this.client(environment, secretKey);
    const requestOptions: Stripe.RequestOptions = { idempotencyKey };
    for (let attempt = 0; ; attempt += 1) {
      await this.buckets[environment].take();
      try {
        return await run({ stripe, requestOptions });
      } catch (error) {
        if (!isRetryable(error) || attempt >= this.maxRetries) throw asGatewayError(error);
        const asked = retryAfterMs(error);
        if (asked !== undefined && asked > this.maxRetryAfterMs) throw asGatewayError(error);
        const backoff = this.retryBaseMs * 2 ** attempt * (0.5 + Math.random() / 2);
        await sleep(Math.max(asked ?? 0, backoff));
      }
    }
  }

  private client(environment: Environment, secretKey: string): Stripe {
    const known = this.clients.get(secretKey);
    if (known) return known;
    const base = this.options.apiBase ? new URL(this.options.apiBase) : undefined;
    const stripe = new Stripe(secretKey, {
      maxNetworkRetries: 0,
      telemetry: false,
      appInfo: { name: 'payfold' },
      ...(base && {
        host: base.hostname,
        port: Number(base.port || (base.protocol === 'https:' ? 443 : 80)),
        protocol: base.protocol === 'https:' ? 'https' : 'http',
      }),
    });
    stripe.on('response', (response: StripeResponseEvent) => {
      this.options.logger.info(
        {
          environment,
          method: response.method,
          path: response.path,
          status: response.status,
          requestId: response.request_id,
          ms: response.elapsed,
        },
        'stripe request',
      );
    });
    this.clients.set(secretKey, stripe);
    return stripe;
  }
}

const asGatewayError = (error: unknown): Error => {
  if (!(error instanceof Stripe.errors.StripeError)) return error as Error;
  // Stripe's messages name the problem; an invalid key's message carries part of the key.
  const message =
    error instanceof Stripe.errors.StripeAuthenticationError
      ? 'Stripe refused the key (invalid, expired or revoked)'
      : error instanceof Stripe.errors.StripeConnectionError
        ? 'Stripe could not be reached'
        : `Stripe answered ${error.statusCode ?? 'an error'}: ${error.message}`;
  return new StripeGatewayError(message, error.statusCode, error.code, error.type);
};
