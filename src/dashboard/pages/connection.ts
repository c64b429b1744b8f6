import { callAdmin } from '../api.js';
import { dataTable, facts, field, h, show } from '../dom.js';
import { formatTime, text, yesNo } from '../format.js';
import { actionButton, form, orShowError, type Page, type PageContext, section, value } from '../page.js';

interface Connection {
  environment: string;
  maskedKey: string;
  accountId: string;
  webhook: { managed: true; endpointId: string } | { managed: false; message: string };
  portalConfigurationCreatedByPayfold: string | null;
  active: boolean;
  connectedAt: string;
}

interface ManagedEndpoint {
  endpointId: string;
  url: string;
  status: string;
  enabledEvents: string[];
}

interface SyncCursor {
  objectKind: string;
  pages: number;
  objects: number;
  startedAt: string;
  finishedAt: string | null;
}

interface Status {
  connections: Connection[];
  syncs: Record<string, SyncCursor[]>;
  /** When the last webhook of each environment arrived. */
  lastWebhooks: Record<string, string | null>;
}

interface ObjectDrift {
  objectKind: string;
  listed: number;
  missing: string[];
  stale: Array<{ id: string; fields: string[] }>;
  /** Different only in fields no table shows: not drift. */
  informational: Array<{ id: string; fields: string[] }>;
  extra: string[];
}

interface ReconcileReport {
  dryRun: boolean;
  missedEvents: { listed: number; missing: string[] };
  objects: ObjectDrift[];
  ambiguousTies: Array<{ objectType: string; objectId: string }>;
  tables: Record<string, { missing: number; differing: number; differingColumns: string[]; extra: number }>;
  drift: number;
  repaired: boolean;
  seconds: number;
}

const syncTable = (cursors: SyncCursor[]) =>
  dataTable(
    'Last sync, per object kind',
    [
      { label: 'Object kind', value: (cursor) => cursor.objectKind },
      { label: 'Objects', value: (cursor) => cursor.objects, numeric: true },
      { label: 'Pages', value: (cursor) => cursor.pages, numeric: true },
      { label: 'Started', value: (cursor) => formatTime(cursor.startedAt) },
      {
        label: 'Finished',
        value: (cursor) => (cursor.finishedAt ? formatTime(cursor.finishedAt) : 'running…'),
      },
    ],
    cursors,
    'No sync has run in this environment.',
  );

const reconcileReport = (report: ReconcileReport) =>
  h(
    'div',
    { class: 'report' },
    h(
      'p',
      { class: report.drift === 0 ? 'ok' : 'warning' },
      report.drift === 0
        ? `No drift: the tables agree with Stripe (${report.seconds.toFixed(1)} s).`
        : `${report.drift} difference${report.drift === 1 ? '' : 's'} found${
            report.repaired ? ' and repaired' : report.dryRun ? ' (dry run: nothing changed)' : ''
          }.`,
    ),
    facts([
      ['Missed events', `${report.missedEvents.missing.length} of ${report.missedEvents.listed} listed`],
      ['Ambiguous ties', String(report.ambiguousTies.length)],
    ]),
    dataTable(
      'Objects',
      [
        { label: 'Object kind', value: (drift) => drift.objectKind },
        { label: 'Listed', value: (drift) => drift.listed, numeric: true },
        { label: 'Missing', value: (drift) => drift.missing.length, numeric: true },
        { label: 'Stale', value: (drift) => drift.stale.length, numeric: true },
        { label: 'Extra', value: (drift) => drift.extra.length, numeric: true },
        {
          label: 'Informational (not drift)',
          value: (drift) =>
            drift.informational.length === 0
              ? '—'
              : `${drift.informational.length}: ${[...new Set(drift.informational.flatMap((entry) => entry.fields))].join(', ')}`,
        },
      ],
      report.objects,
    ),
    dataTable(
      'Tables that differ from what the log builds',
      [
        { label: 'Table', value: ([table]) => table },
        { label: 'Missing rows', value: ([, drift]) => drift.missing, numeric: true },
        { label: 'Differing rows', value: ([, drift]) => drift.differing, numeric: true },
        { label: 'Columns', value: ([, drift]) => drift.differingColumns.join(', ') || '—' },
        { label: 'Extra rows', value: ([, drift]) => drift.extra, numeric: true },
      ],
      Object.entries(report.tables).filter(([, drift]) => drift.missing + drift.differing + drift.extra > 0),
      'Every table matches the log.',
    ),
  );

type Announce = PageContext['announce'];

/** The account, the masked key, the endpoint and the portal configuration of a connection. */
const connectionFacts = (
  connection: Connection | undefined,
  environment: string,
  lastWebhook: string | null,
) =>
  connection
    ? facts([
        ['Stripe account', connection.accountId],
        ['Secret key', h('code', { 'data-testid': 'masked-key' }, connection.maskedKey)],
        ['Connected', formatTime(connection.connectedAt)],
        ['Active', yesNo(connection.active)],
        [
          'Webhook endpoint',
          connection.webhook.managed
            ? `${connection.webhook.endpointId} (managed by Payfold)`
            : `Not managed: ${connection.webhook.message}`,
        ],
        [
          'Billing portal configuration',
          text(connection.portalConfigurationCreatedByPayfold ?? 'the account’s own'),
        ],
        ['Last webhook', lastWebhook ? formatTime(lastWebhook) : 'none yet'],
      ])
    : h('p', {}, `No Stripe key is set for ${environment}. Set one below to connect.`);

/** The managed endpoint as Stripe reports it: asked of Stripe once per visit and after a key changes. */
const endpointLine = (environment: string, left: () => boolean) => {
  const element = h('p', { 'data-testid': 'endpoint-status' });
  const load = async () => {
    const answer = await callAdmin<{ endpoint: ManagedEndpoint | null }>(
      'GET',
      `/api/admin/payments/config/${environment}/webhook-endpoint`,
    );
    if (left()) return;
    show(
      element,
      answer.error
        ? `The managed webhook endpoint could not be read from Stripe: ${answer.error.message}`
        : answer.data.endpoint
          ? `Stripe reports the managed endpoint ${answer.data.endpoint.status}, sending ${answer.data.endpoint.enabledEvents.length} event types to ${answer.data.endpoint.url}.`
          : '',
    );
  };
  return { element, load };
};

/** Sets or replaces the environment's key; the input is emptied whatever the answer. */
const keyForm = (environment: string, announce: Announce, connected: () => Promise<void>) => {
  const keyInput = h('input', {
    type: 'password',
    name: 'secretKey',
    autocomplete: 'off',
    required: true,
    spellcheck: 'false',
  });
  const force = h('input', { type: 'checkbox', name: 'force', value: 'yes' });
  force.id = 'force-key';
  return form(
    'Set the Stripe key',
    [
      field(
        'Secret key',
        keyInput,
        `A ${environment === 'test' ? 'sk_test_' : 'sk_live_'}… or restricted key; it replaces the current one. It is stored encrypted and never shown again.`,
      ),
      h(
        'div',
        { class: 'field checkbox' },
        force,
        h('label', { for: 'force-key' }, 'Replace a key of another Stripe account'),
      ),
    ],
    'Set key',
    async (values, element) => {
      const answer = await callAdmin<{ connection: Connection; firstSync?: string }>(
        'PUT',
        `/api/admin/payments/config/${environment}`,
        { secretKey: value(values, 'secretKey'), force: values.get('force') === 'yes' },
      );
      element.reset();
      if (answer.error) return announce(answer.error.message, 'error');
      announce(
        `Connected to ${answer.data.connection.accountId} with ${answer.data.connection.maskedKey}${
          answer.data.firstSync ? '; the first sync has started' : ''
        }.`,
      );
      await connected();
    },
  );
};

/** Runs a sync; while it runs, its cursors show how far it got. */
const syncButton = (environment: string, announce: Announce, load: () => Promise<void>) =>
  actionButton('Run a sync', async () => {
    announce('Sync running: every object kind is listed from Stripe…');
    // The sync answers when every page is in the log; meanwhile its cursors show how far it got.
    const watching = window.setInterval(() => void load(), 1000);
    const answer = await callAdmin<{ syncs: Array<{ kinds: Array<{ objects: number }>; seconds: number }> }>(
      'POST',
      '/api/admin/payments/sync',
      { environment },
    );
    clearInterval(watching);
    await load();
    if (answer.error) return announce(`Sync failed: ${answer.error.message}`, 'error');
    const sync = answer.data.syncs[0];
    const objects = sync?.kinds.reduce((sum, kind) => sum + kind.objects, 0) ?? 0;
    announce(`Sync done: ${objects} objects in ${sync?.seconds.toFixed(1)} s.`);
  });

/** A dry run first, then "Repair the drift" when it found any. */
const reconcileControls = (environment: string, announce: Announce) => {
  const result = h('div', { 'aria-live': 'polite' });
  const reconcile = (dryRun: boolean) =>
    callAdmin<{ report: ReconcileReport }>('POST', '/api/admin/reconcile', { environment, dryRun });
  const repair = actionButton('Repair the drift', async () => {
    if (!window.confirm('Append what Stripe has and the log lacks, and rebuild the tables that differ?'))
      return;
    announce('Repairing…');
    const answer = await reconcile(false);
    if (answer.error) return announce(`Reconcile failed: ${answer.error.message}`, 'error');
    show(result, reconcileReport(answer.data.report));
    announce(answer.data.report.repaired ? 'Repaired.' : 'Nothing needed repair.');
    repair.hidden = true;
  });
  repair.hidden = true;
  const dryRun = actionButton('Check for drift (dry run)', async () => {
    announce('Comparing the tables with Stripe…');
    const answer = await reconcile(true);
    if (answer.error) return announce(`Reconcile failed: ${answer.error.message}`, 'error');
    show(result, reconcileReport(answer.data.report));
    repair.hidden = answer.data.report.drift === 0;
    announce(`Dry run done: ${answer.data.report.drift} difference(s).`);
  });
  return { buttons: h('div', { class: 'buttons' }, dryRun, repair), result };
};

/** Account, masked key, webhook endpoint, last sync; set a key, sync, reconcile. */
export const connectionPage: Page = async ({ environment, root, announce, every, left }) => {
  const summary = h('div', {});
  const progress = h('div', {});
  const endpoint = endpointLine(environment, left);
  const load = async (): Promise<void> => {
    const status = orShowError(await callAdmin<Status>('GET', '/api/admin/payments/status'), summary);
    if (!status || left()) return;
    const connection = status.connections.find((candidate) => candidate.environment === environment);
    show(summary, connectionFacts(connection, environment, status.lastWebhooks[environment] ?? null));
    disconnect.hidden = !connection;
    show(progress, syncTable(status.syncs[environment] ?? []));
  };
  const disconnect = actionButton('Remove the key', async () => {
    if (!window.confirm(`Remove the ${environment} key and its managed webhook endpoint?`)) return;
    const answer = await callAdmin('DELETE', `/api/admin/payments/config/${environment}`);
    if (answer.error) return announce(answer.error.message, 'error');
    announce('The key was removed.');
    await load();
    await endpoint.load();
  });
  await load();
  if (left()) return;
  const reconcile = reconcileControls(environment, announce);
  show(
    root,
    section(
      'Stripe account',
      summary,
      endpoint.element,
      keyForm(environment, announce, async () => {
        await load();
        await endpoint.load();
      }),
      disconnect,
    ),
    section(
      'Sync',
      h('p', {}, 'Backfill the log from Stripe: every object of every kind, page by page.'),
      syncButton(environment, announce, load),
      progress,
    ),
    section(
      'Reconcile',
      h(
        'p',
        {},
        'Compare the tables with Stripe. A dry run changes nothing; repair appends what is missing.',
      ),
      reconcile.buttons,
      reconcile.result,
    ),
  );
  // Stripe's answer fills its line in when it comes; the page does not wait for it.
  void endpoint.load();

  every(2000, load);
};
