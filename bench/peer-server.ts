// What both peers' servers share: the environment the bench gives them, a Stripe client whose
// every call fails fast, and the smallest HTTP server that hands each request to the peer's webhook
// processing (200 when it resolves, 500 when it throws).
import { createServer } from 'node:http';
import Stripe from 'stripe';

export const peerEnvironment = {
  databaseUrl: process.env.BENCH_PEER_DATABASE_URL as string,
  webhookSecret: process.env.BENCH_WEBHOOK_SECRET as string,
};

/** Any call a peer would make to Stripe goes to a closed local port and fails (counted as non-2xx). */
export const offlineStripe = () =>
  new Stripe('sk_test_bench', {
    host: '127.0.0.1',
    port: Number(process.env.BENCH_CLOSED_PORT),
    protocol: 'http',
    maxNetworkRetries: 0,
  });

export const servePeerWebhooks = (processWebhook: (payload: Buffer, signature: string) => Promise<unknown>) =>
  createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      processWebhook(Buffer.concat(chunks), request.headers['stripe-signature'] as string)
        .then(() => {
          response.writeHead(200, { 'content-type': 'application/json' }).end('{"received":true}');
        })
        .catch(() => {
          response.writeHead(500).end();
        });
    });
  }).listen(Number(process.env.BENCH_PEER_PORT), '127.0.0.1', () => process.stdout.write('ready\n'));
