import { callAdmin, query } from '../api.js';
import { lineChart } from '../chart.js';
import { dataTable, h, show } from '../dom.js';
import { formatTime, text } from '../format.js';
import { orShowError, type Page, section } from '../page.js';

type Row = Record<string, unknown>;

interface WebhookActivity {
  deliveries: Row[];
  perMinute: Array<{ minute: string; events: number }>;
  rejected: Array<{ reason: string; count: number }>;
}

const day = 24 * 60 * 60 * 1000;
const hourMinute = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });

/** Recent deliveries, refused requests by reason, events per minute over the last day. */
export const webhooksPage: Page = async ({ environment, root, every, left }) => {
  const load = async () => {
    const answer = orShowError(
      await callAdmin<WebhookActivity>('GET', `/api/admin/webhooks${query({ environment, limit: 50 })}`),
      root,
    );
    if (!answer || left()) return;
    const now = Date.now();
    const total = answer.perMinute.reduce((sum, minute) => sum + minute.events, 0);
    const busiest = answer.perMinute.reduce((most, minute) => Math.max(most, minute.events), 0);
    show(
      root,
      section(
        'Events per minute, last 24 hours',
        lineChart({
          title: `Stripe events received per minute in ${environment}`,
          summary: `${total} events in the last 24 hours; at most ${busiest} in one minute.`,
          series: [
            {
              name: 'events',
              points: answer.perMinute.map((minute) => [Date.parse(minute.minute), minute.events]),
            },
          ],
          xRange: [now - day, now],
          xLabel: (x) => hourMinute.format(new Date(x)),
          bars: true,
        }),
      ),
      dataTable(
        'Recent deliveries',
        [
          { label: 'Received', value: (row) => formatTime(row.received_at) },
          { label: 'Type', value: (row) => text(row.event_type) },
          {
            label: 'Object',
            value: (row) => (row.object_id ? `${row.object_type} ${row.object_id}` : text(row.object_type)),
          },
          { label: 'Event', value: (row) => h('code', {}, String(row.event_id)) },
          { label: 'Redelivered', value: (row) => text(row.redeliveries), numeric: true },
        ],
        answer.deliveries,
        'No webhook has arrived in this environment yet.',
      ),
      dataTable(
        'Refused webhook requests since this Payfold process started, by reason (all environments)',
        [
          { label: 'Reason', value: (row) => h('code', {}, row.reason) },
          { label: 'Requests', value: (row) => row.count, numeric: true },
        ],
        answer.rejected,
        'None refused.',
      ),
    );
  };
  await load();
  every(10_000, load);
};
