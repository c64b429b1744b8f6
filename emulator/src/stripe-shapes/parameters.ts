import { readFileSync } from 'node:fs';
import { StripeApiError } from '../params.js';
import type { Shape, StripeShapes } from './shape.js';

let loaded: StripeShapes | undefined;

/** The parameters of each route, as `scripts/stripe-shapes.ts` read them from the `stripe` package. */
const routeParameters = (): StripeShapes => {
  loaded ??= JSON.parse(readFileSync(new URL('./params.json', import.meta.url), 'utf8')) as StripeShapes;
  return loaded;
};

const resolved = (shape: Shape, definitions: StripeShapes['definitions']): Shape[] => {
  if (typeof shape !== 'object') return [shape];
  if ('ref' in shape) return resolved(definitions[shape.ref] ?? 'unknown', definitions);
  if ('anyOf' in shape) return shape.anyOf.flatMap((member) => resolved(member, definitions));
  return [shape];
};

const isRecord = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

/**
 * The first parameter in `value` that `shape` does not name, in Stripe's bracket notation
 * (`recurring[bogus]`), or undefined. Only names are checked here; each route checks values.
 */
const unknownIn = (
  value: unknown,
  shape: Shape,
  name: string,
  definitions: StripeShapes['definitions'],
): string | undefined => {
  const shapes = resolved(shape, definitions);
  if (shapes.includes('unknown')) return undefined;
  const nested = (key: string) => (name ? `${name}[${key}]` : key);
  const arrays = shapes.flatMap((candidate) =>
    typeof candidate === 'object' && 'array' in candidate ? [candidate.array] : [],
  );
  // Form encoding sends arrays as `items[0][price]`: an object with index keys.
  const elements = Array.isArray(value)
    ? value.map((element, index) => [String(index), element] as const)
    : isRecord(value) && arrays.length > 0 && Object.keys(value).every((key) => /^\d+$/.test(key))
      ? Object.entries(value)
      : undefined;
  if (elements && arrays.length > 0) {
    for (const [index, element] of elements) {
      const found = unknownIn(element, arrays[0] as Shape, nested(index), definitions);
      if (found) return found;
    }
    return undefined;
  }
  if (!isRecord(value)) return undefined;
  const maps = shapes.flatMap((candidate) =>
    typeof candidate === 'object' && 'map' in candidate ? [candidate.map] : [],
  );
  const objects = shapes.flatMap((candidate) =>
    typeof candidate === 'object' && 'object' in candidate ? [candidate.object] : [],
  );
  if (objects.length === 0 && maps.length === 0) return undefined;
  for (const [key, field] of Object.entries(value)) {
    const fieldShape = objects.find((fields) => key in fields)?.[key] ?? maps[0];
    if (fieldShape === undefined) return nested(key);
    const found = unknownIn(field, fieldShape, nested(key), definitions);
    if (found) return found;
  }
  return undefined;
};

/**
 * Refuses a parameter the route does not take, as Stripe does (400 `parameter_unknown`), so that a
 * typo (`cancel_at_periodend`) fails here as it would against Stripe. A route Stripe does not have
 * (the emulator's own test helpers) is not checked.
 */
export const refuseUnknownParameters = (method: string, route: string, params: Record<string, unknown>) => {
  const { roots, definitions } = routeParameters();
  const shape = roots[`${method} ${route.replace(/:[A-Za-z_]+/g, '{}')}`];
  if (!shape) return;
  const unknown = unknownIn(params, shape, '', definitions);
  if (unknown) {
    throw new StripeApiError(
      400,
      'invalid_request_error',
      `Received unknown parameter: ${unknown}`,
      'parameter_unknown',
      unknown,
    );
  }
};
