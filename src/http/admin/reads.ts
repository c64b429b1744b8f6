import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import type { PaymentsReads } from '../../ports/payments-reads.js';
import { invalid } from '../errors.js';
import { catalogAnswer, customersAnswer, overviewAnswer, webhookActivityAnswer } from './answers.js';
import { admin, environmentQuery } from './route-doc.js';

const searchQuery = environmentQuery.extend({ search: z.string().max(255).optional() });
const webhooksQuery = environmentQuery.extend({ limit: z.coerce.number().int().min(1).max(500).optional() });
const customerParams = z.object({ customerId: z.string().min(1).max(255) });
const subjectParams = z.object({
  subjectType: z.string().min(1).max(255),
  subjectId: z.string().min(1).max(255),
});

export interface AdminReadsPluginOptions {
  /** What the dashboard's pages read of the tables. */
  reads: PaymentsReads;
  /** Webhook requests refused since this process started, by reason. */
  rejectedWebhooks: () => Promise<Array<{ reason: string; count: number }>>;
}

/** What the dashboard's pages read: the catalog, customers, a subject's or a customer's billing, webhooks. */
export const adminReadsPlugin: FastifyPluginAsync<AdminReadsPluginOptions> = async (
  app,
  { reads, rejectedWebhooks },
) => {
  app.get(
    '/api/admin/payments/catalog',
    admin(
      'Products (not deleted) with their prices, the features, and coupons (not deleted) with their promotion codes, as the payments tables hold them',
      {
        query: environmentQuery,
        answer: catalogAnswer,
      },
    ),
    async (request, reply) => {
      const query = environmentQuery.safeParse(request.query);
      if (!query.success) return reply.status(400).send(invalid(query.error));
      return reads.catalog(query.data.environment);
    },
  );

  app.get(
    '/api/admin/payments/customers',
    admin('Customers by subject (type:id), customer id, or part of an email or name; the newest 50', {
      query: searchQuery,
      answer: customersAnswer,
    }),
    async (request, reply) => {
      const query = searchQuery.safeParse(request.query);
      if (!query.success) return reply.status(400).send(invalid(query.error));
      return { customers: await reads.searchCustomers(query.data.environment, query.data.search ?? '') };
    },
  );

  app.get(
    '/api/admin/payments/customers/:customerId',
    admin("A customer's mapping, subscriptions with items, invoices, payments, refunds, disputes", {
      params: customerParams,
      query: environmentQuery,
      answer: overviewAnswer,
    }),
    async (request, reply) => {
      const query = environmentQuery.safeParse(request.query);
      if (!query.success) return reply.status(400).send(invalid(query.error));
      const { customerId } = customerParams.parse(request.params);
      return { overview: await reads.overview(query.data.environment, { customerId }) };
    },
  );

  app.get(
    '/api/admin/payments/subjects/:subjectType/:subjectId',
    admin(
      "A subject's customers and mapping, subscriptions with items, invoices, payments, refunds, disputes",
      {
        params: subjectParams,
        query: environmentQuery,
        answer: overviewAnswer,
      },
    ),
    async (request, reply) => {
      const query = environmentQuery.safeParse(request.query);
      if (!query.success) return reply.status(400).send(invalid(query.error));
      const { subjectType, subjectId } = subjectParams.parse(request.params);
      return {
        overview: await reads.overview(query.data.environment, {
          subject: { type: subjectType, id: subjectId },
        }),
      };
    },
  );

  app.get(
    '/api/admin/webhooks',
    admin(
      'Recent webhook deliveries with redelivery counts, events per minute over the last day, and refused requests by reason since the process started',
      { query: webhooksQuery, answer: webhookActivityAnswer },
    ),
    async (request, reply) => {
      const query = webhooksQuery.safeParse(request.query);
      if (!query.success) return reply.status(400).send(invalid(query.error));
      return {
        ...(await reads.webhookActivity(query.data.environment, query.data.limit ?? 50)),
        rejected: await rejectedWebhooks(),
      };
    },
  );
};
