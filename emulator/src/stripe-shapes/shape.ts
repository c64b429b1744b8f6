/**
 * A value's shape as the pinned `stripe` package's types give it, in a form JSON holds: a scalar
 * kind, string values (an enum; `open` when the package also allows other strings, as it does for
 * values Stripe may add), an array, an object (its fields, and which are optional), a map
 * (an index signature, such as metadata), one of several shapes, or a named definition.
 */
export type Shape =
  | 'string'
  | 'number'
  | 'boolean'
  | 'null'
  | 'unknown'
  | { enum: string[]; open?: true }
  | { array: Shape }
  | { object: Record<string, Shape>; optional?: string[] }
  | { map: Shape }
  | { anyOf: Shape[] }
  | { ref: string };

/** Shapes by route (`POST /v1/customers/{}`) or by object type (`customer`), and the named ones they use. */
export interface StripeShapes {
  roots: Record<string, Shape>;
  definitions: Record<string, Shape>;
}
