import { subscriptionScheduleSchema } from '../../../domain/stripe/objects.js';
import { customerMirrorTable, timestamp } from './table.js';

/**
 * `payments.subscription_schedules`: each schedule's status, current phase and phases (their
 * prices, quantities and dates), with its subscription and the subject through the customer.
 */
export const subscriptionSchedulesTable = customerMirrorTable(
  {
    name: 'payments.subscription_schedules',
    key: ['environment', 'subscription_schedule_id'],
    columns: {
      environment: 'text not null',
      subscription_schedule_id: 'text not null',
      customer_id: 'text',
      subject_type: 'text',
      subject_id: 'text',
      subscription_id: 'text',
      released_subscription_id: 'text',
      status: 'text',
      end_behavior: 'text',
      current_phase_start: 'timestamptz',
      current_phase_end: 'timestamptz',
      phases: 'jsonb not null',
      metadata: 'jsonb not null',
    },
  },
  'subscription_schedule',
  ({ environment, snapshot }) => {
    const schedule = subscriptionScheduleSchema.parse(snapshot);
    return {
      environment,
      subscription_schedule_id: schedule.id,
      customer_id: schedule.customer,
      subscription_id: schedule.subscription,
      released_subscription_id: schedule.released_subscription,
      status: schedule.status,
      end_behavior: schedule.end_behavior,
      current_phase_start: timestamp(schedule.current_phase?.start_date ?? null),
      current_phase_end: timestamp(schedule.current_phase?.end_date ?? null),
      // Times as ISO text in the jsonb, as Postgres writes timestamps.
      phases: schedule.phases.map((phase) => ({
        start: timestamp(phase.start_date)?.toISOString() ?? null,
        end: timestamp(phase.end_date)?.toISOString() ?? null,
        items: phase.items.map((item) => ({ price_id: item.price, quantity: item.quantity })),
      })),
      metadata: schedule.metadata,
    };
  },
);
