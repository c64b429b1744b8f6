import Stripe from 'stripe';
import type { DeliveryPlan } from './faults.js';
import type { EmittedEvent, EmulatorStore, StripeRecord } from './store.js';

export interface DeliveryTarget {
  url: string;
  secret: string;
  /** Event types to send, or `*`. */
  enabledEvents: readonly string[];
  /** The API version the endpoint was created with: the envelope says it. Null: the account's. */
  apiVersion?: string | null;
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
      apiVersion: endpoint.api_version as string | null,
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
  const payload = JSON.stringify(
    target.apiVersion ? { ...event, api_version: target.apiVersion } : event,
    null,
    2,
  );
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

export interface DroppedDelivery {
  eventId: string;
  type: string;
  url: string;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Delivers every event the store emits to the account's enabled endpoints and to `forwardTo`,
 * each delivery as its plan says: dropped, held back until the endpoint's next event, or sent
 * (once or more) after a delay.
 */
export const deliverEmittedEvents = (
  store: EmulatorStore,
  options: {
    forwardTo?: string;
    forwardSecret: string;
    delivery?: DeliveryOptions;
    planDelivery: () => DeliveryPlan;
  },
) => {
  const deliveries = new Set<Promise<void>>();
  const track = (delivery: Promise<void>) => {
    deliveries.add(delivery);
    void delivery.finally(() => deliveries.delete(delivery));
  };
  const dropped: DroppedDelivery[] = [];
  /** Per endpoint, the release of the event a `reorder` fault holds back. */
  const heldBack = new Map<string, () => void>();
  store.onEvent((event) => {
    const targets = endpointTargets(store.collection('webhook_endpoint').values());
    if (options.forwardTo)
      targets.push({ url: options.forwardTo, secret: options.forwardSecret, enabledEvents: ['*'] });
    for (const target of targets) {
      const plan = options.planDelivery();
      if (plan.dropped) {
        dropped.push({ eventId: event.id, type: event.type, url: target.url });
        continue;
      }
      const send = () => {
        for (const delayMs of plan.delaysMs) {
          track(
            (delayMs > 0 ? sleep(delayMs) : Promise.resolve()).then(() =>
              deliverEvent(event, target, options.delivery),
            ),
          );
        }
      };
      const earlier = heldBack.get(target.url);
      if (plan.heldBack && !earlier) {
        track(
          new Promise<void>((resolve) => {
            const release = () => {
              clearTimeout(timer);
              heldBack.delete(target.url);
              send();
              resolve();
            };
            const timer = setTimeout(release, plan.holdMs);
            heldBack.set(target.url, release);
          }),
        );
        continue;
      }
      send();
      earlier?.();
    }
  });
  return {
    dropped,
    /** Resolves when every delivery started so far has finished (answered or given up). */
    settled: async () => {
      while (deliveries.size > 0) await Promise.allSettled([...deliveries]);
    },
  };
};
