import Stripe from 'stripe';
import type { Environment } from '../../domain/environment.js';
import { type StripeGateway, StripeGatewayError } from '../../ports/stripe.js';
import type { StripeKeyVault } from './key-vault.js';
import { forwardingHint } from './status.js';

/** The events the projections read, which a managed endpoint subscribes to. */
export const managedWebhookEvents = [
  'product.created',
  'product.updated',
  'product.deleted',
  'price.created',
  'price.updated',
  'price.deleted',
  'customer.created',
  'customer.updated',
  'customer.deleted',
  'customer.subscription.created',
  'customer.subscription.updated',
  'customer.subscription.deleted',
  'customer.subscription.paused',
  'customer.subscription.resumed',
  'customer.subscription.trial_will_end',
  'invoice.created',
  'invoice.updated',
  'invoice.deleted',
  'invoice.finalized',
  'invoice.paid',
  'invoice.payment_failed',
  'invoice.payment_succeeded',
  'invoice.voided',
  'invoice.marked_uncollectible',
  'invoice_payment.paid',
  'payment_intent.created',
  'payment_intent.processing',
  'payment_intent.requires_action',
  'payment_intent.succeeded',
  'payment_intent.payment_failed',
  'payment_intent.canceled',
  'charge.pending',
  'charge.succeeded',
  'charge.failed',
  'charge.captured',
  'charge.updated',
  'charge.refunded',
  'charge.refund.updated',
  'refund.created',
  'refund.updated',
  'refund.failed',
  'charge.dispute.created',
  'charge.dispute.updated',
  'charge.dispute.closed',
  'checkout.session.completed',
  'checkout.session.expired',
  'checkout.session.async_payment_succeeded',
  'checkout.session.async_payment_failed',
  'payment_method.attached',
  'payment_method.updated',
  'payment_method.automatically_updated',
  'payment_method.detached',
  'setup_intent.created',
  'setup_intent.requires_action',
  'setup_intent.succeeded',
  'setup_intent.setup_failed',
  'setup_intent.canceled',
  'entitlements.active_entitlement_summary.updated',
  'customer.tax_id.created',
  'customer.tax_id.updated',
  'customer.tax_id.deleted',
  'radar.early_fraud_warning.created',
  'radar.early_fraud_warning.updated',
  'credit_note.created',
  'credit_note.updated',
  'credit_note.voided',
  'coupon.created',
  'coupon.updated',
  'coupon.deleted',
  'promotion_code.created',
  'promotion_code.updated',
  'customer.discount.created',
  'customer.discount.updated',
  'customer.discount.deleted',
  'subscription_schedule.created',
  'subscription_schedule.updated',
  'subscription_schedule.released',
  'subscription_schedule.canceled',
  'subscription_schedule.completed',
  'subscription_schedule.aborted',
  'subscription_schedule.expiring',
] as const;

const managedMetadata = (environment: Environment) => ({
  payfold_managed: 'true',
  payfold_environment: environment,
});

/** The managed webhook endpoint as Stripe reports it. */
export interface ManagedWebhookEndpoint {
  endpointId: string;
  url: string;
  /** `enabled`, or `disabled` (Stripe disables an endpoint that keeps failing). */
  status: string;
  enabledEvents: string[];
}

/** Where webhooks come from after a connect: the managed endpoint, or how to forward them. */
export type WebhookSetup = { managed: true; url: string } | { managed: false; message: string };

/**
 * The webhook endpoint Payfold manages in a connected account when `PAYFOLD_PUBLIC_URL` is set:
 * `<public URL>/api/webhooks/stripe/<environment>`, subscribed to what the projections read.
 */
export const managedWebhookEndpoints = (
  gateway: StripeGateway,
  vault: StripeKeyVault,
  publicUrl: string | undefined,
) => ({
  /**
   * Replaces the account's previous Payfold endpoint for the environment by a new one and stores
   * its secret. A failure leaves the key connected and says why.
   */
  async replace(environment: Environment, key: string): Promise<WebhookSetup> {
    if (!publicUrl) return { managed: false, message: forwardingHint(environment) };
    const url = new URL(`/api/webhooks/stripe/${environment}`, publicUrl).toString();
    try {
      const endpoint = await gateway.call(environment, key, async ({ stripe, requestOptions }) => {
        for await (const existing of stripe.webhookEndpoints.list({ limit: 100 })) {
          const metadata = existing.metadata ?? {};
          if (metadata.payfold_managed === 'true' && metadata.payfold_environment === environment)
            await stripe.webhookEndpoints.del(existing.id);
        }
        return stripe.webhookEndpoints.create(
          {
            url,
            enabled_events: [...managedWebhookEvents],
            api_version: Stripe.API_VERSION as Stripe.WebhookEndpointCreateParams.ApiVersion,
            description: 'Payfold: keeps the payments tables in step',
            metadata: managedMetadata(environment),
          },
          requestOptions,
        );
      });
      if (!endpoint.secret)
        throw new StripeGatewayError('Stripe returned no signing secret', undefined, undefined, undefined);
      await vault.saveWebhookEndpoint(environment, endpoint.id, endpoint.secret);
      return { managed: true, url };
    } catch (error) {
      if (!(error instanceof StripeGatewayError)) throw error;
      return { managed: false, message: `the webhook endpoint was not created: ${error.message}` };
    }
  },

  /** The endpoint as Stripe has it now (whether it is enabled, where it sends), asked of Stripe. */
  async describe(
    environment: Environment,
    key: string,
    endpointId: string,
  ): Promise<{ ok: true; endpoint: ManagedWebhookEndpoint } | { ok: false; message: string }> {
    try {
      const endpoint = await gateway.call(environment, key, ({ stripe }) =>
        stripe.webhookEndpoints.retrieve(endpointId),
      );
      return {
        ok: true,
        endpoint: {
          endpointId: endpoint.id,
          url: endpoint.url,
          status: endpoint.status,
          enabledEvents: endpoint.enabled_events,
        },
      };
    } catch (error) {
      if (error instanceof StripeGatewayError) return { ok: false, message: error.message };
      throw error;
    }
  },

  /** Deletes the endpoint, so that Stripe stops sending where nobody verifies any more. */
  async remove(environment: Environment, key: string, endpointId: string): Promise<void> {
    await gateway
      .call(environment, key, ({ stripe }) => stripe.webhookEndpoints.del(endpointId))
      .catch((error: unknown) => {
        // Already gone is fine; anything else keeps the connection until it can be removed.
        if (!(error instanceof StripeGatewayError && error.status === 404)) throw error;
      });
  },
});
