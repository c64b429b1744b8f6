import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import { z } from 'zod';
import {
  type CatalogResult,
  priceCreateSchema,
  productCreateSchema,
  productUpdateSchema,
} from '../../app/catalog.js';
import type { StripeAccess } from '../../app/stripe-access.js';
import { errorBody, invalid } from '../errors.js';
import { catalogChangeAnswer } from './answers.js';
import { admin, withEnvironment } from './route-doc.js';

const idParams = z.object({ id: z.string().min(1).max(255) });
const environmentBody = withEnvironment({});
const productCreateBody = withEnvironment(productCreateSchema.shape);
const productUpdateBody = withEnvironment(productUpdateSchema.shape);
const priceCreateBody = withEnvironment(priceCreateSchema.shape);

const catalogAnswer = <T>(reply: FastifyReply, result: CatalogResult<T>) =>
  result.ok
    ? reply.status(200).send({ object: result.object })
    : reply.status(result.status).send(errorBody('catalog_change_failed', result.message));

const catalogResponses = {
  400: 'Invalid body, or Stripe refused it',
  404: 'No such object in Stripe',
  409: 'Not connected',
  502: 'Stripe failed',
};

/** `/api/admin/payments/products` and `…/prices`: catalog changes, in Stripe first, then the log. */
export const adminCatalogPlugin: FastifyPluginAsync<{ stripe: StripeAccess }> = async (app, { stripe }) => {
  app.post(
    '/api/admin/payments/products',
    admin(
      'Create a product in Stripe, then log it',
      { body: productCreateBody, answer: catalogChangeAnswer },
      catalogResponses,
    ),
    async (request, reply) => {
      const body = productCreateBody.safeParse(request.body);
      if (!body.success) return reply.status(400).send(invalid(body.error));
      const { environment, ...input } = body.data;
      return catalogAnswer(reply, await stripe.catalog.createProduct(environment, input));
    },
  );

  app.patch(
    '/api/admin/payments/products/:id',
    admin(
      'Update a product in Stripe, then log it',
      { params: idParams, body: productUpdateBody, answer: catalogChangeAnswer },
      catalogResponses,
    ),
    async (request, reply) => {
      const body = productUpdateBody.safeParse(request.body);
      if (!body.success) return reply.status(400).send(invalid(body.error));
      const { environment, ...input } = body.data;
      const { id } = idParams.parse(request.params);
      return catalogAnswer(reply, await stripe.catalog.updateProduct(environment, id, input));
    },
  );

  app.post(
    '/api/admin/payments/products/:id/archive',
    admin(
      'Archive a product (active: false)',
      { params: idParams, body: environmentBody, answer: catalogChangeAnswer },
      catalogResponses,
    ),
    async (request, reply) => {
      const body = environmentBody.safeParse(request.body);
      if (!body.success) return reply.status(400).send(invalid(body.error));
      const { id } = idParams.parse(request.params);
      return catalogAnswer(reply, await stripe.catalog.archiveProduct(body.data.environment, id));
    },
  );

  app.post(
    '/api/admin/payments/prices',
    admin(
      'Create a price in Stripe, then log it',
      { body: priceCreateBody, answer: catalogChangeAnswer },
      catalogResponses,
    ),
    async (request, reply) => {
      const body = priceCreateBody.safeParse(request.body);
      if (!body.success) return reply.status(400).send(invalid(body.error));
      const { environment, ...input } = body.data;
      return catalogAnswer(reply, await stripe.catalog.createPrice(environment, input));
    },
  );

  app.post(
    '/api/admin/payments/prices/:id/archive',
    admin(
      'Archive a price (active: false)',
      { params: idParams, body: environmentBody, answer: catalogChangeAnswer },
      catalogResponses,
    ),
    async (request, reply) => {
      const body = environmentBody.safeParse(request.body);
      if (!body.success) return reply.status(400).send(invalid(body.error));
      const { id } = idParams.parse(request.params);
      return catalogAnswer(reply, await stripe.catalog.archivePrice(body.data.environment, id));
    },
  );
};
