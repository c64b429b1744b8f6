import { z } from 'zod';

/**
 * The envelope of a Stripe event, as far as the log needs it. Everything else in the payload is
 * kept verbatim in the log and read later by the projectors' own schemas, so unknown fields and
 * unknown event types never fail here.
 */
export const stripeEventEnvelopeSchema = z.looseObject({
  id: z.string().regex(/^evt_/, 'a Stripe event id starts with evt_'),
  object: z.literal('event'),
  type: z.string().min(1),
  api_version: z.string().nullish(),
  created: z.number().int().nonnegative(),
  livemode: z.boolean(),
  data: z.looseObject({
    object: z.looseObject({
      id: z.string().optional(),
      object: z.string().optional(),
    }),
    previous_attributes: z.record(z.string(), z.unknown()).nullish(),
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
