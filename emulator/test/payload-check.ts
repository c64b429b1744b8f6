import { readFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'vitest';
import type { RunningEmulator } from '../src/server.js';
import type { Shape, StripeShapes } from '../src/stripe-shapes/shape.js';

/** Every object type's shape, read from the pinned `stripe` package (emulator/scripts/stripe-shapes.ts). */
const objectShapes = JSON.parse(
  readFileSync(path.resolve(import.meta.dirname, '../src/stripe-shapes/objects.json'), 'utf8'),
) as StripeShapes;

const isRecord = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

const kindOf = (value: unknown) => (value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value);

/**
 * How `value` differs from `shape`: a field the type requires that is absent, a field it does not
 * have, a value of another type, a string outside the values the package lists. Empty: it fits.
 */
const problemsOf = (value: unknown, shape: Shape, at: string): string[] => {
  if (typeof shape === 'string') {
    if (shape === 'unknown' || kindOf(value) === shape) return [];
    return [`${at}: ${kindOf(value)} where the type says ${shape}`];
  }
  if ('ref' in shape) return problemsOf(value, objectShapes.definitions[shape.ref] ?? 'unknown', at);
  if ('enum' in shape) {
    if (typeof value === 'string' && shape.enum.includes(value)) return [];
    return [`${at}: ${JSON.stringify(value)} is not one of ${shape.enum.join('|')}`];
  }
  if ('anyOf' in shape) {
    const attempts = shape.anyOf.map((member) => problemsOf(value, member, at));
    if (attempts.some((problems) => problems.length === 0)) return [];
    // The member of the value's own kind says best what is wrong (an object's missing field).
    const sameKind = attempts.filter(
      (problems) => !problems.some((problem) => problem.startsWith(`${at}: `)),
    );
    return (sameKind.length > 0 ? sameKind : attempts).reduce((best, problems) =>
      problems.length < best.length ? problems : best,
    );
  }
  if ('array' in shape) {
    if (!Array.isArray(value)) return [`${at}: ${kindOf(value)} where the type says array`];
    return value.flatMap((element, index) => problemsOf(element, shape.array, `${at}[${index}]`));
  }
  if (!isRecord(value)) return [`${at}: ${kindOf(value)} where the type says object`];
  if ('map' in shape)
    return Object.entries(value).flatMap(([key, item]) => problemsOf(item, shape.map, `${at}.${key}`));
  const optional = new Set(shape.optional ?? []);
  // Stripe's lists inside objects (a subscription's items) carry a count the package does not type.
  const extra = (field: string) => field === 'total_count' && value.object === 'list';
  return [
    ...Object.keys(shape.object)
      .filter((field) => !optional.has(field) && !(field in value))
      .map((field) => `${at}.${field}: missing (the type requires it)`),
    ...Object.keys(value)
      .filter((field) => !(field in shape.object) && !extra(field))
      .map((field) => `${at}.${field}: not a field of the type`),
    ...Object.entries(value).flatMap(([field, item]) =>
      field in shape.object ? problemsOf(item, shape.object[field] as Shape, `${at}.${field}`) : [],
    ),
  ];
};

/** How an object the emulator emits differs from its type in the pinned `stripe` package. */
export const payloadProblems = (object: Record<string, unknown>, at = String(object.object)): string[] => {
  const shape = objectShapes.roots[String(object.object)];
  if (!shape) return [`${at}: no type in the stripe package for object ${String(object.object)}`];
  return problemsOf(object, shape, at);
};

/**
 * Every object the emulator holds and every event it emitted (with the object it carries) fits
 * the pinned package's types. The emulator's own bookkeeping records (`*.extras`) are not Stripe's.
 */
export const expectStripeShapes = (emulator: RunningEmulator) => {
  const { objects, events } = emulator.store.snapshot();
  const problems = new Set<string>();
  for (const [type, records] of Object.entries(objects)) {
    if (type.endsWith('.extras')) continue;
    for (const record of records) for (const problem of payloadProblems(record)) problems.add(problem);
  }
  for (const event of events) {
    // The package types an event's object as any object: it is checked against its own type.
    const envelope = {
      ...event,
      data: { object: {}, ...(event.data.previous_attributes && { previous_attributes: {} }) },
    };
    const found = [
      ...payloadProblems(envelope, `event ${event.type}`),
      ...payloadProblems(event.data.object, `event ${event.type}: ${event.data.object.object}`),
    ];
    for (const problem of found) problems.add(problem);
  }
  expect([...problems].sort()).toEqual([]);
};
