/**
 * The Payfold SDK (`payfold/client`): the session API from a browser or Node, over `fetch`, with
 * no dependencies. Calls never throw for an API error; they answer `{ data, error }`.
 */

export type Environment = 'test' | 'live';

/** The app-owned billing owner: a team, a user… */
export interface Subject {
  type: string;
  id: string;
}

export interface CreateCheckoutSessionInput {
  environment: Environment;
  mode: 'payment' | 'subscription';
  subject: Subject;
  /** 1 to 100 items; quantity 1 to 999 (1 when left out). */
  lineItems: Array<{ stripePriceId: string; quantity?: number }>;
  successUrl: string;
  cancelUrl: string;
  customerEmail?: string;
  /** Copied to the session and its subscription or payment; keys starting with `payfold_` are Payfold's. */
  metadata?: Record<string, string>;
  /**
   * One attempt of the signed-in user for 24 hours (anonymous callers cannot use keys): a retry
   * with the same key and body answers the same session, or starts a new attempt if that session
   * expired; requests with a key are retried after network errors.
   */
  idempotencyKey?: string;
}

export interface CheckoutSession {
  /** The row id in `payments.checkout_sessions`. */
  id: string;
  checkoutSessionId: string;
  /** Where to send the customer while the session is open; null once it completed. */
  url: string | null;
  /** `completed`: a retry of an attempt the customer already finished; send them to the success page. */
  status: 'open' | 'completed';
  mode: string;
  subject: Subject;
  expiresAt: string | null;
  idempotencyKey: string | null;
}

export interface CreateCustomerPortalSessionInput {
  environment: Environment;
  subject: Subject;
  returnUrl: string;
  /** A Billing Portal configuration (`bpc_…`); the account's default one otherwise. */
  configuration?: string;
}

export interface CustomerPortalSession {
  /** The row id in `payments.customer_portal_sessions`. */
  id: string;
  portalSessionId: string;
  url: string;
  returnUrl: string;
  subject: Subject;
}

/** What went wrong: Payfold's error code and message, and the HTTP status (0 when no answer came). */
export interface PayfoldError {
  code: string;
  message: string;
  status: number;
}

export type PayfoldResult<T> = { data: T; error: null } | { data: null; error: PayfoldError };

export interface PayfoldClientOptions {
  /** Where `payfold serve` answers, e.g. `https://billing.example.com`. */
  baseUrl: string;
  /** The signed-in user's token (a JWT Payfold verifies), or a function that returns a fresh one. */
  accessToken?: string | (() => string | undefined | Promise<string | undefined>);
  /** Another `fetch` (tests, older runtimes); the global one otherwise. */
  fetch?: typeof fetch;
  /** Retries of a request with an idempotency key after a network error (default 2). */
  networkRetries?: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const errorOf = (status: number, body: unknown): PayfoldError => {
  const error = (body as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  return {
    code: typeof error?.code === 'string' ? error.code : 'http_error',
    message: typeof error?.message === 'string' ? error.message : `Payfold answered ${status}`,
    status,
  };
};

export const createClient = (options: PayfoldClientOptions) => {
  const baseUrl = options.baseUrl.replace(/\/+$/, '');
  const retries = options.networkRetries ?? 2;

  const post = async <T>(path: string, body: unknown, retryable: boolean): Promise<PayfoldResult<T>> => {
    const token =
      typeof options.accessToken === 'function' ? await options.accessToken() : options.accessToken;
    const doFetch = options.fetch ?? globalThis.fetch;
    for (let attempt = 0; ; attempt += 1) {
      let response: Response;
      try {
        response = await doFetch(`${baseUrl}${path}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...(token && { authorization: `Bearer ${token}` }) },
          body: JSON.stringify(body),
        });
      } catch (error) {
        // Without an idempotency key a lost answer may hide a created session: not retried.
        if (retryable && attempt < retries) {
          await sleep(200 * 2 ** attempt);
          continue;
        }
        const message = error instanceof Error ? error.message : String(error);
        return { data: null, error: { code: 'network_error', message, status: 0 } };
      }
      let parsed: unknown;
      try {
        parsed = await response.json();
      } catch {
        return {
          data: null,
          error: {
            code: 'invalid_response',
            message: `Payfold answered ${response.status} without JSON`,
            status: response.status,
          },
        };
      }
      return response.ok
        ? { data: parsed as T, error: null }
        : { data: null, error: errorOf(response.status, parsed) };
    }
  };

  return {
    payments: {
      /** Creates a Stripe Checkout Session for a subject; send the customer to `data.checkoutSession.url`. */
      createCheckoutSession: (input: CreateCheckoutSessionInput) =>
        post<{ checkoutSession: CheckoutSession }>(
          '/api/payments/checkout-sessions',
          input,
          input.idempotencyKey !== undefined,
        ),
      /** Opens the Billing Portal for a subject that has a Stripe customer. */
      createCustomerPortalSession: (input: CreateCustomerPortalSessionInput) =>
        post<{ customerPortalSession: CustomerPortalSession }>(
          '/api/payments/customer-portal-sessions',
          input,
          false,
        ),
    },
  };
};

export type PayfoldClient = ReturnType<typeof createClient>;
