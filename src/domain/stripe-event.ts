import { z } from 'zod';

/**
 * The envelope of a Stripe event, as far as the log needs it. The payload itself is stored
 * verbatim and read later by the projectors' own schemas, so unknown fields and event types never
 * fail here; the parsed result keeps only these fields, which keeps the webhook path cheap.
 */
export const stripeEventEnvelopeSchema = z.object({
  id: z.string().regex(/^evt_/, 'a Stripe event id starts with evt_'),
  object: z.literal('event'),
  type: z.string().min(1),
  api_version: z.string().nullish(),
  created: z.number().int().nonnegative(),
  livemode: z.boolean(),
  data: z.object({
    object: z.object({
      id: z.string().optional(),
      object: z.string().optional(),
    }),
  }),
});
export type StripeEventEnvelope = z.infer<typeof stripeEventEnvelopeSchema>;

export interface StripeObjectRef {
  objectType: string | null;
  objectId: string | null;
}

/** The object an event is about. Some objects (e.g. entitlement summaries) carry no id. */
export const stripeEventObjectRef = (event: StripeEventEnvelope): StripeObjectRef => ({
  objectType: event.data.object.object ?? null,
  objectId: event.data.object.id ?? null,
});
