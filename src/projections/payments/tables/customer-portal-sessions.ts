import { sessionRequestObject } from '../../../domain/session-requests.js';
import type { Subject } from '../../../domain/subject.js';
import { mirrorTable, subjectColumns } from './table.js';

/** A portal request's state as `portalRequestSnapshot` keeps it. */
interface PortalRequestState {
  id: string;
  status: 'initialized' | 'failed' | 'created';
  subject: Subject;
  customer_id: string;
  return_url: string;
  portal_session_id?: string;
  url?: string;
  last_error?: string;
}

/**
 * `payments.customer_portal_sessions`: one row per Billing Portal session request made through
 * Payfold, from the request's latest state (Stripe sends no events about portal sessions).
 */
export const customerPortalSessionsTable = mirrorTable(
  {
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
      portal_session_id: 'text',
      url: 'text',
      last_error: 'text',
    },
  },
  sessionRequestObject.portal,
  ({ environment, snapshot }) => {
    const request = snapshot as unknown as PortalRequestState;
    return {
      id: request.id,
      environment,
      status: request.status,
      ...subjectColumns(request.subject),
      customer_id: request.customer_id,
      return_url: request.return_url,
      portal_session_id: request.portal_session_id ?? null,
      url: request.url ?? null,
      last_error: request.status === 'failed' ? (request.last_error ?? null) : null,
    };
  },
);
