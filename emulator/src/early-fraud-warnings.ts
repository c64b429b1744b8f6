import type Stripe from 'stripe';
import { fieldFilter } from './params.js';
import { type Resource, resource } from './resources.js';
import type { Act, EmittedEvent, EmulatorStore, RequestContext } from './store.js';

/**
 * An early fraud warning on a charge (`radar.early_fraud_warning.created`): actionable while the
 * charge can still be refunded to head off a dispute.
 */
export const openEarlyFraudWarning = (
  act: Act,
  charge: Stripe.Charge,
  fraudType: Stripe.Radar.EarlyFraudWarning['fraud_type'],
): Stripe.Radar.EarlyFraudWarning =>
  act.store.create(
    'radar.early_fraud_warning',
    {
      id: act.store.id('issfr'),
      object: 'radar.early_fraud_warning',
      actionable: !charge.refunded && !charge.disputed,
      charge: charge.id,
      created: act.context.at ?? act.store.now(),
      fraud_type: fraudType,
      livemode: false,
      payment_intent: charge.payment_intent as string | undefined,
    },
    'radar.early_fraud_warning.created',
    act.context,
  );

/** A charge fully refunded or disputed: its warnings are no longer actionable (`.updated`), as in Stripe. */
export const followEarlyFraudWarnings = (store: EmulatorStore): void => {
  store.afterEvent((event: EmittedEvent, context: RequestContext) => {
    const settled =
      event.type === 'charge.dispute.created'
        ? (event.data.object.charge as string)
        : event.type === 'charge.refunded' && event.data.object.refunded === true
          ? event.data.object.id
          : null;
    if (!settled) return;
    for (const warning of store.all('radar.early_fraud_warning')) {
      if (warning.charge !== settled || !warning.actionable) continue;
      store.update(
        'radar.early_fraud_warning',
        warning.id,
        { actionable: false },
        'radar.early_fraud_warning.updated',
        context,
      );
    }
  });
};

export const earlyFraudWarnings: Resource = resource({
  type: 'radar.early_fraud_warning',
  path: 'radar/early_fraud_warnings',
  matches: fieldFilter('charge', 'payment_intent'),
});
