import type Stripe from 'stripe';
import type { Act } from './store.js';

const day = 24 * 60 * 60;

/** Stripe's standard US card pricing, the emulator's for every currency: 2.9% + 30 minor units. */
const cardFee = (amount: number): number => Math.round(amount * 0.029) + 30;

/** Stripe's fee for a dispute (15.00 in the charge's currency), taken when the funds are withdrawn. */
const disputeFee = 1500;

interface Movement {
  amount: number;
  currency: string;
  fee: number;
  source: string;
  type: Stripe.BalanceTransaction.Type;
  reportingCategory: string;
  description: string | null;
}

/**
 * A movement of the account's balance. Stripe emits no event for one: objects name it by id
 * (`charge.balance_transaction`), and `GET /v1/balance_transactions` lists them.
 */
const createBalanceTransaction = (act: Act, movement: Movement): Stripe.BalanceTransaction => {
  const created = act.context.at ?? act.store.now();
  return act.store.put('balance_transaction', {
    id: act.store.id('txn'),
    object: 'balance_transaction',
    amount: movement.amount,
    available_on: created + 2 * day,
    balance_type: 'payments',
    created,
    currency: movement.currency,
    description: movement.description,
    exchange_rate: null,
    fee: movement.fee,
    fee_details:
      movement.fee === 0
        ? []
        : [
            {
              amount: movement.fee,
              application: null,
              currency: movement.currency,
              description: movement.type === 'charge' ? 'Stripe processing fees' : 'Dispute fee',
              type: 'stripe_fee',
            },
          ],
    net: movement.amount - movement.fee,
    reporting_category: movement.reportingCategory,
    source: movement.source,
    status: 'pending',
    type: movement.type,
  });
};

/**
 * What Stripe does seconds after a charge succeeds (API 2024-04-10 and later): the charge's balance
 * transaction exists, with its fee, and `charge.updated` says so. `charge.succeeded` carried `null`.
 */
export const settleCharge = (act: Act, chargeId: string): void => {
  const charge = act.store.get('charge', chargeId);
  if (charge?.status !== 'succeeded' || charge.balance_transaction) return;
  const transaction = createBalanceTransaction(act, {
    amount: charge.amount,
    currency: charge.currency,
    fee: cardFee(charge.amount),
    source: charge.id,
    type: 'charge',
    reportingCategory: 'charge',
    description: charge.description,
  });
  act.store.update(
    'charge',
    charge.id,
    { balance_transaction: transaction.id },
    'charge.updated',
    act.context,
  );
};

/** The balance transaction of a refund: the amount back out, Stripe's fee kept. */
export const refundTransaction = (act: Act, refundId: string, amount: number, currency: string) =>
  createBalanceTransaction(act, {
    amount: -amount,
    currency,
    fee: 0,
    source: refundId,
    type: 'refund',
    reportingCategory: 'refund',
    description: 'REFUND FOR CHARGE',
  });

/** The balance transactions of a dispute: the amount and the dispute fee withdrawn, or the amount back. */
export const disputeTransaction = (
  act: Act,
  dispute: Pick<Stripe.Dispute, 'id' | 'amount' | 'currency' | 'charge'>,
  direction: 'withdrawn' | 'reinstated',
): Stripe.BalanceTransaction =>
  createBalanceTransaction(act, {
    amount: direction === 'withdrawn' ? -dispute.amount : dispute.amount,
    currency: dispute.currency,
    fee: direction === 'withdrawn' ? disputeFee : 0,
    source: dispute.id,
    type: 'adjustment',
    reportingCategory: direction === 'withdrawn' ? 'dispute' : 'dispute_reversal',
    description: `Chargeback ${direction === 'withdrawn' ? 'withdrawal' : 'reversal'} for ${String(dispute.charge)}`,
  });
