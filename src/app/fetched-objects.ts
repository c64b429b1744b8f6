import { randomUUID } from 'node:crypto';
import type { Environment } from '../domain/environment.js';
import { stripeObjectFetchedLogEntry } from '../domain/event-log.js';
import type { EventLog } from '../ports/event-log.js';
import { observationOf, type WithResponse } from '../ports/stripe.js';

/**
 * Appends an object Stripe answered with as a `stripe.object.fetched` entry, observed at the
 * answer's `Date` (now, when it carries none), so the tables show it before its webhook arrives.
 * Returns the object without the response the package attached.
 */
export const appendFetchedObject = async <T extends { id: string; object: string }>(
  log: EventLog,
  environment: Environment,
  answered: T & WithResponse,
): Promise<T> => {
  const { object, observedAt } = observationOf(answered);
  await log.append(
    stripeObjectFetchedLogEntry(environment, {
      fetchId: randomUUID(),
      observedAt: observedAt ?? Math.floor(Date.now() / 1000),
      object: object as unknown as Record<string, unknown> & { id: string; object: string },
    }),
  );
  return object;
};
