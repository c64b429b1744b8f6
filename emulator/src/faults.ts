import { z } from 'zod';
import { seededRandom } from './store.js';

/**
 * Faults to test against, reproducible from a seed: the same seed and the same calls give the
 * same duplicated, delayed, reordered and dropped deliveries and the same failing API calls.
 */

const share = z.coerce.number().min(0).max(1);

export const deliveryFaultsSchema = z.object({
  seed: z.coerce.number().int(),
  /** Share of deliveries sent twice (the copy after its own delay). */
  duplicate: share.default(0),
  /** Share of deliveries held back up to `maxDelayMs`, so that later events overtake them. */
  delay: share.default(0),
  /**
   * Share of events held back until the endpoint's next event has been sent (that one overtakes
   * it), or for `maxDelayMs` when no event follows.
   */
  reorder: share.default(0),
  maxDelayMs: z.coerce.number().int().min(0).max(60_000).default(200),
  /** Share of events never delivered, as when Stripe gives up on an endpoint; listed in `dropped`. */
  drop: share.default(0),
});
export type DeliveryFaults = z.input<typeof deliveryFaultsSchema>;

export const apiFaultSchema = z.object({
  /** `rate_limit`: 429 with `Retry-After`; `server_error`: a 5xx; `slow`: answered after `delayMs`. */
  kind: z.enum(['rate_limit', 'server_error', 'slow']),
  /** Share of the matching calls hit. */
  share,
  /** Only calls whose `METHOD /path` starts with this (`POST /v1/refunds`, `GET /v1/customers`). */
  route: z.string().optional(),
  status: z.coerce.number().int().min(500).max(599).default(500),
  retryAfterSeconds: z.coerce.number().int().min(0).max(60).default(1),
  delayMs: z.coerce.number().int().min(0).max(60_000).default(1_000),
});
export const apiFaultsSchema = z.object({
  seed: z.coerce.number().int(),
  faults: z.array(apiFaultSchema).default([]),
});
export type ApiFaults = z.input<typeof apiFaultsSchema>;
export type ApiFault = z.output<typeof apiFaultSchema>;

export const faultsSchema = z.object({
  delivery: deliveryFaultsSchema.nullish(),
  api: apiFaultsSchema.nullish(),
});
export type Faults = z.input<typeof faultsSchema>;

/** How one event reaches one endpoint: not at all, or once or twice after the given delays. */
export interface DeliveryPlan {
  dropped: boolean;
  delaysMs: number[];
  /** Sent only after the endpoint's next event (or after `holdMs`). */
  heldBack: boolean;
  holdMs: number;
}

/** Decides each delivery in emission order; without faults every event goes once, now. */
export const deliveryPlanner = (faults: DeliveryFaults | null | undefined) => {
  if (!faults) return (): DeliveryPlan => ({ dropped: false, delaysMs: [0], heldBack: false, holdMs: 0 });
  const settings = deliveryFaultsSchema.parse(faults);
  const random = seededRandom(settings.seed);
  const delay = () => (random() < settings.delay ? Math.floor(random() * settings.maxDelayMs) : 0);
  const holdMs = settings.maxDelayMs;
  return (): DeliveryPlan => {
    if (random() < settings.drop) return { dropped: true, delaysMs: [], heldBack: false, holdMs };
    const first = delay();
    const delaysMs = random() < settings.duplicate ? [first, delay()] : [first];
    // Drawn only when asked for, so that seeds chosen before `reorder` existed plan as before.
    const heldBack = settings.reorder > 0 && random() < settings.reorder;
    return { dropped: false, delaysMs, heldBack, holdMs };
  };
};

/** Picks, call by call, the faults that hit an API call (`METHOD /path`). */
export const apiFaultPicker = (faults: ApiFaults | null | undefined) => {
  if (!faults) return (): ApiFault[] => [];
  const settings = apiFaultsSchema.parse(faults);
  const random = seededRandom(settings.seed);
  return (call: string): ApiFault[] =>
    settings.faults.filter(
      (fault) => (!fault.route || call.startsWith(fault.route)) && random() < fault.share,
    );
};
