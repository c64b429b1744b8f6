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
  /**
   * Status → what it answers. Every 2xx has its schema (the test of `/docs` parses real answers
   * with it); errors answer `{"error":{"code","message"}}`, so a line saying when is enough.
   */
  responses: Record<number, AnswerDoc>;
}

/**
 * An answer: what it means, and for a success its body's schema (JSON unless said otherwise), or
 * its schema by content type where the route answers what the client accepts.
 */
export type AnswerDoc =
  | string
  | { description: string; schema: z.ZodType; contentType?: string }
  | { description: string; content: Record<string, z.ZodType> };

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

/** The reference groups routes by who calls them. */
const tagOf: Record<RouteAuth, string> = {
  none: 'Service',
  stripe_signature: 'Stripe webhooks',
  user: 'Sessions',
  admin: 'Admin',
};

const securityOf: Record<RouteAuth, Array<Record<string, string[]>>> = {
  none: [],
  stripe_signature: [{ stripeSignature: [] }],
  user: [{ userToken: [] }],
  admin: [{ adminToken: [] }],
};

/** A schema as the document shows it: what a request may send, or what an answer holds. */
const jsonSchemaOf = (schema: z.ZodType, io: 'input' | 'output' = 'input') => {
  const { $schema: _dialect, ...jsonSchema } = z.toJSONSchema(schema, { io, unrepresentable: 'any' });
  return jsonSchema;
};

const errorContent = { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } };

const responseOf = (status: number, answer: AnswerDoc) => {
  if (typeof answer === 'string')
    return { description: answer, ...(status >= 400 && { content: errorContent }) };
  const content =
    'content' in answer ? answer.content : { [answer.contentType ?? 'application/json']: answer.schema };
  return {
    description: answer.description,
    content: Object.fromEntries(
      Object.entries(content).map(([type, schema]) => [type, { schema: jsonSchemaOf(schema, 'output') }]),
    ),
  };
};

/** `/a/:b` as OpenAPI writes it: `/a/{b}`. */
const openApiPath = (url: string): string => url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');

/** Every route registered with the app (through `onRoute`), and the OpenAPI document of those with a doc. */
export const routeCatalog = () => {
  const routes: RegisteredRoute[] = [];
  return {
    routes,
    /** The `onRoute` hook: add it before any route is registered. */
    record(options: RouteOptions): void {
      // A plugin's own routes it hides from documents (the reference's scripts and styles).
      if ((options.schema as { hide?: boolean } | undefined)?.hide) return;
      const methods = Array.isArray(options.method) ? options.method : [options.method];
      for (const method of methods) {
        // Fastify adds a HEAD route beside each GET; it is the GET's.
        if (method === 'HEAD') continue;
        routes.push({ method: method.toLowerCase(), url: options.url, doc: options.config?.doc });
      }
    },
    /** A route a plugin registers hidden, described here instead. */
    describe(route: RegisteredRoute): void {
      routes.push(route);
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
          tags: [tagOf[doc.auth]],
          security: securityOf[doc.auth],
          parameters: [...parametersIn('path', doc.params), ...parametersIn('query', doc.query)],
          ...(doc.body && {
            requestBody: {
              required: true,
              content: { 'application/json': { schema: jsonSchemaOf(doc.body) } },
            },
          }),
          responses: Object.fromEntries(
            Object.entries(doc.responses).map(([status, answer]) => [
              status,
              responseOf(Number(status), answer),
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
