import type { TableShape } from './table.js';

/**
 * `payments.customer_portal_sessions`: one row per Billing Portal session request. Its writer is
 * the session API (not built yet); the table and its columns already exist for policies and
 * triggers to be written against.
 */
export const customerPortalSessionsTable: TableShape<{
  id: 'uuid not null';
  environment: 'text not null';
  status: 'text not null';
  subject_type: 'text';
  subject_id: 'text';
  customer_id: 'text';
  return_url: 'text';
  url: 'text';
  last_error: 'text';
}> = {
  name: 'payments.customer_portal_sessions',
  key: ['id'],
  columns: {
    id: 'uuid not null',
    environment: 'text not null',
    status: 'text not null',
    subject_type: 'text',
    subject_id: 'text',
    customer_id: 'text',
    return_url: 'text',
    url: 'text',
    last_error: 'text',
  },
};
