import type { RouteOptions } from 'fastify';
import { z } from 'zod';

/** Who may call a route. */
export type RouteAuth = 'none' | 'stripe_signature' | 'user' | 'admin';

/**
 * A route as `/docs` describes it, declared next to the route (`config: { doc }`). Its schemas are
 * the zod schemas the route validates with, so the document cannot drift from what is checked.
 */
export interface RouteDoc {
  summary: string;
  auth: RouteAuth;
  params?: z.ZodObject;
  query?: z.ZodObject;
  body?: z.ZodType;
  /** Status → what it means. Errors answer `{"error":{"code","message"}}`. */
  responses: Record<number, string>;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    doc?: RouteDoc;
  }
}

export interface RegisteredRoute {
  method: string;
  url: string;
  doc: RouteDoc | undefined;
}

const securityOf: Record<RouteAuth, Array<Record<string, string[]>>> = {
  none: [],
  stripe_signature: [{ stripeSignature: [] }],
  user: [{ userToken: [] }],
  admin: [{ adminToken: [] }],
};

const jsonSchemaOf = (schema: z.ZodType) => z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' });

/** `/a/:b` as OpenAPI writes it: `/a/{b}`. */
const openApiPath = (url: string): string => url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');

/** Every route registered with the app (through `onRoute`), and the OpenAPI document of those with a doc. */
export const routeCatalog = () => {
  const routes: RegisteredRoute[] = [];
  return {
    routes,
    /** The `onRoute` hook: add it before any route is registered. */
    record(options: RouteOptions): void {
      const methods = Array.isArray(options.method) ? options.method : [options.method];
      for (const method of methods) {
        // Fastify adds a HEAD route beside each GET; it is the GET's.
        if (method === 'HEAD') continue;
        routes.push({ method: method.toLowerCase(), url: options.url, doc: options.config?.doc });
      }
    },
    document(version: string) {
      const paths: Record<string, Record<string, unknown>> = {};
      for (const { method, url, doc } of routes) {
        if (!doc) continue;
        const parametersIn = (where: 'path' | 'query', schema: z.ZodObject | undefined) =>
          Object.entries(schema?.shape ?? {}).map(([name, value]) => ({
            name,
            in: where,
            required: where === 'path' || !(value as z.ZodType).safeParse(undefined).success,
            schema: jsonSchemaOf(value as z.ZodType),
          }));
        const path = paths[openApiPath(url)] ?? {};
        paths[openApiPath(url)] = path;
        path[method] = {
          summary: doc.summary,
          security: securityOf[doc.auth],
          parameters: [...parametersIn('path', doc.params), ...parametersIn('query', doc.query)],
          ...(doc.body && {
            requestBody: {
              required: true,
              content: { 'application/json': { schema: jsonSchemaOf(doc.body) } },
            },
          }),
          responses: Object.fromEntries(
            Object.entries(doc.responses).map(([status, description]) => [
              status,
              {
                description,
                ...(Number(status) >= 400 && {
                  content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
                }),
              },
            ]),
          ),
        };
      }
      return {
        openapi: '3.1.0',
        info: {
          title: 'Payfold',
          version,
          description: 'Stripe webhooks in, payments tables out; sessions and admin over HTTP.',
        },
        paths,
        components: {
          securitySchemes: {
            userToken: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
            adminToken: { type: 'http', scheme: 'bearer', description: 'PAYFOLD_ADMIN_TOKEN' },
            stripeSignature: { type: 'apiKey', in: 'header', name: 'Stripe-Signature' },
          },
          schemas: {
            Error: {
              type: 'object',
              required: ['error'],
              properties: {
                error: {
                  type: 'object',
                  required: ['code', 'message'],
                  properties: { code: { type: 'string' }, message: { type: 'string' } },
                },
              },
            },
          },
        },
      };
    },
  };
};

export type RouteCatalog = ReturnType<typeof routeCatalog>;
