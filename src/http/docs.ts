import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { RouteCatalog } from './openapi.js';

export interface DocsPluginOptions {
  catalog: RouteCatalog;
  /** Payfold's version, in the document. */
  version: string;
}

const openApiDocument = z.looseObject({ openapi: z.literal('3.1.0') });

/** A browser asks for a page; a script (`curl`, a client generator) for the document itself. */
const wantsPage = (request: FastifyRequest): boolean => (request.headers.accept ?? '').includes('text/html');

/**
 * `/docs`: the API reference a person reads (Swagger UI, served from this process, nothing fetched
 * from elsewhere), and `/docs/json`, the OpenAPI document a client generator reads; a client that
 * does not ask for HTML gets the document at `/docs` too. The document is made when the server is
 * ready, from the docs the routes declare.
 */
export const docsPlugin: FastifyPluginAsync<DocsPluginOptions> = async (app, { catalog, version }) => {
  const document: Record<string, unknown> = {};
  app.addHook('onReady', async () => {
    Object.assign(document, catalog.document(version));
  });
  await app.register(swagger, { mode: 'static', specification: { document: document as never } });
  await app.register(swaggerUi, {
    routePrefix: '/docs',
    // Served from here only; Swagger UI sets element styles from its scripts, hence inline styles.
    staticCSP:
      "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    theme: { title: 'Payfold API' },
    uiConfig: { docExpansion: 'list', deepLinking: true, defaultModelsExpandDepth: 0 },
    uiHooks: {
      onRequest: async (request, reply) => {
        if (request.routeOptions.url === '/docs' && !wantsPage(request)) return reply.send(document);
      },
    },
  });
  catalog.describe({
    method: 'get',
    url: '/docs',
    doc: {
      summary: 'This reference: the page for a browser, the OpenAPI document for any other client',
      auth: 'none',
      responses: {
        200: {
          description: 'The page (Accept: text/html), or the document',
          content: { 'text/html': z.string(), 'application/json': openApiDocument },
        },
      },
    },
  });
  catalog.describe({
    method: 'get',
    url: '/docs/json',
    doc: {
      summary: 'This reference as an OpenAPI 3.1 document',
      auth: 'none',
      responses: { 200: { description: 'OpenAPI 3.1', schema: openApiDocument } },
    },
  });
};
