import { createHmac, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fixturesDirectory } from '../test/support/stripe-events.js';

/**
 * Event types that both peers (`@supabase/stripe-sync-engine`, `stripe-experiment-sync`) store from
 * the payload alone (no Stripe call with the bench's settings), so every engine does the same job
 * in the ingest and webhook-to-row measures.
 */
export const peerCompatibleFixtures = [
  'customer_updated.json',
  'product_updated.json',
  'price_updated.json',
  'charge_succeeded.json',
  'payment_intent_succeeded.json',
  'refund_updated.json',
  'invoice_paid.json',
];

/**
 * Signed ~4 KB events, each with a fresh event id and object id, made on demand so that the load
 * generator needs neither gigabytes of pre-made bodies nor a second signing pass.
 */
export const createSignedEventSource = (secret: string, targetBytes = 4096) => {
  const templates = peerCompatibleFixtures.map((file) => {
    const event = JSON.parse(readFileSync(path.join(fixturesDirectory, file), 'utf8'));
    event.id = '@EVENT_ID@';
    event.created = '@CREATED@';
    event.livemode = false;
    event.data.object.id = '@OBJECT_ID@';
    event.data.object.metadata = { ...(event.data.object.metadata ?? {}), bench_padding: '' };
    const padding = Math.max(0, targetBytes - JSON.stringify(event).length);
    event.data.object.metadata.bench_padding = 'p'.repeat(padding);
    return JSON.stringify(event);
  });
  let counter = 0;
  const run = randomBytes(4).toString('hex');
  return () => {
    counter += 1;
    const template = templates[counter % templates.length] as string;
    const created = Math.floor(Date.now() / 1000);
    const body = template
      .replace('"@EVENT_ID@"', `"evt_${run}_${counter}"`)
      .replace('"@CREATED@"', String(created))
      .replace('"@OBJECT_ID@"', `"obj_${run}_${counter}"`);
    const signature = createHmac('sha256', secret).update(`${created}.${body}`).digest('hex');
    return { body, signature: `t=${created},v1=${signature}` };
  };
};
