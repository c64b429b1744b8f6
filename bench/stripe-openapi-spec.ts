// An OpenAPI document for Stripe's own sync engine (the bench's second peer), whose migrations make
// one table per Stripe resource with a column per property of the resource's schema in Stripe's
// spec. The spec itself (megabytes, fetched from GitHub) is out of reach here; this one is built
// from the example object of every resource in test/fixtures/stripe-openapi/fixtures3.json (from
// the same repository): each resource's top-level properties, typed by their example values, so
// its tables have the columns the current API's objects have.
import { readFileSync } from 'node:fs';

type PropertySchema = Record<string, unknown>;

const schemaOfValue = (value: unknown): PropertySchema => {
  if (value === null) return { type: 'string', nullable: true };
  if (typeof value === 'boolean') return { type: 'boolean' };
  if (typeof value === 'number') return Number.isInteger(value) ? { type: 'integer' } : { type: 'number' };
  if (typeof value === 'string') return { type: 'string' };
  if (Array.isArray(value)) return { type: 'array', items: {} };
  return { type: 'object' };
};

export const openApiSpecOfFixtures = () => {
  const { resources } = JSON.parse(
    readFileSync(new URL('../test/fixtures/stripe-openapi/fixtures3.json', import.meta.url), 'utf8'),
  ) as { resources: Record<string, Record<string, unknown>> };
  const schemas = Object.fromEntries(
    Object.entries(resources).map(([resourceId, example]) => [
      resourceId,
      {
        type: 'object',
        'x-resourceId': resourceId,
        properties: Object.fromEntries(
          Object.entries(example).map(([property, value]) => [property, schemaOfValue(value)]),
        ),
      },
    ]),
  );
  return {
    openapi: '3.0.0',
    info: { title: 'Stripe API (from fixtures3.json)', version: '2020-08-27' },
    components: { schemas },
  };
};
