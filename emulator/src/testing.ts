import type { ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import Stripe from 'stripe';
import type { RunningEmulator } from './server.js';

/*
 * `payfold-stripe-emulator/testing`: what tests against an emulator keep needing (the emulator's own
 * tests, Payfold's, an app's): a `stripe` client for it, a price, a webhook receiver, and the
 * first line a command prints.
 */

/** The real `stripe` package, pointed at an emulator, without its own retries. */
export const stripeFor = (emulator: RunningEmulator, config: Stripe.StripeConfig = {}) => {
  const url = new URL(emulator.url);
  return new Stripe('sk_test_emulator', {
    host: url.hostname,
    port: Number(url.port),
    protocol: 'http',
    maxNetworkRetries: 0,
    ...config,
  });
};

/** A USD price of the product: recurring every `interval`, or one-time when `interval` is null. */
export const priceFor = (
  stripe: Stripe,
  product: string,
  unitAmount: number,
  interval: 'month' | 'year' | null = 'month',
) =>
  stripe.prices.create({
    product,
    currency: 'usd',
    unit_amount: unitAmount,
    ...(interval ? { recurring: { interval } } : {}),
  });

/** A local endpoint that records what it receives, answering with the statuses given, then 200. */
export const receiver = async (statuses: number[] = []) => {
  const received: Array<{ body: string; signature: string }> = [];
  const server: Server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk) => {
      body += chunk;
    });
    request.on('end', () => {
      received.push({ body, signature: String(request.headers['stripe-signature']) });
      response.writeHead(statuses.shift() ?? 200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${address.port}/hook`,
    received,
    close: () => new Promise((r) => server.close(r)),
  };
};

/** The first line a command prints once it has started (its address), or the exit that came first. */
export const firstLine = (child: ChildProcess): Promise<string> =>
  new Promise<string>((resolve, reject) => {
    child.stdout?.once('data', (chunk) => resolve(String(chunk)));
    child.once('exit', (code) => reject(new Error(`exited ${code}`)));
  });
