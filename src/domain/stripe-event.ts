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

/** Deeper than any Stripe payload (a handful of levels), shallower than Postgres's parser allows. */
export const maxJsonNesting = 512;

/**
 * How deeply a JSON text nests objects and arrays, read without parsing it (strings skipped), so
 * that a body Postgres would refuse to store is refused at the door instead of failing its batch.
 */
export const jsonNestingDepth = (text: string): number => {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let at = 0; at < text.length; at += 1) {
    const char = text.charCodeAt(at);
    if (inString) {
      if (char === 92)
        at += 1; // a backslash escapes the next character
      else if (char === 34) inString = false;
    } else if (char === 34) inString = true;
    else if (char === 123 || char === 91) {
      depth += 1;
      if (depth > deepest) deepest = depth;
    } else if (char === 125 || char === 93) depth -= 1;
  }
  return deepest;
};
