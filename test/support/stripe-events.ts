import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import Stripe from 'stripe';

/** Public Stripe webhook payloads, kept in this repository (test/fixtures/README.md). */
export const fixturesDirectory = path.resolve(import.meta.dirname, '../fixtures/stripe-events');

export interface StripeEventFixture {
  file: string;
  event: {
    id: string;
    type: string;
    livemode: boolean;
    created: number;
    api_version: string | null;
    data: { object: { id?: string; object?: string } & Record<string, unknown> };
  } & Record<string, unknown>;
}

export const loadEventFixtures = (): StripeEventFixture[] => {
  return readdirSync(fixturesDirectory)
    .filter((file) => file.endsWith('.json'))
    .sort()
    .map((file) => ({ file, event: JSON.parse(readFileSync(path.join(fixturesDirectory, file), 'utf8')) }));
};

export const freshEventId = (): string => `evt_${randomBytes(12).toString('hex')}`;

/** A copy of a fixture event under a new id, created now (the files share ids). */
export const freshEvent = (fixture: StripeEventFixture, overrides: Record<string, unknown> = {}) => ({
  ...structuredClone(fixture.event),
  id: freshEventId(),
  created: Math.floor(Date.now() / 1000),
  ...overrides,
});

export const sign = (payload: string, secret: string, timestamp = Math.floor(Date.now() / 1000)): string =>
  Stripe.webhooks.generateTestHeaderString({ payload, secret, timestamp });
