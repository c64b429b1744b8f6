import { callAdmin } from '../api.js';
import { lineChart, type Series } from '../chart.js';
import { dataTable, h, show } from '../dom.js';
import { formatTime, text } from '../format.js';
import { actionButton, orShowError, type Page, section } from '../page.js';

interface ProjectionStatus {
  name: string;
  lastRebuild: { at: string; reason: string; quiet: boolean; entries: number } | null;
  position: number;
  behind: number;
  /** Null before the projection first ran. */
  updatedAt: string | null;
  parkedEntries: number;
  dismissedEntries: number;
}

interface ParkedEntry {
  projection: string;
  position: number;
  entryType: string;
  error: string;
  occurredAt: string;
  /** When an admin dismissed it: never applied, still in the log. */
  dismissedAt: string | null;
}

interface ProjectionsReport {
  projections: ProjectionStatus[];
  parkedEntries: ParkedEntry[];
}

/** Samples kept for the live lag chart: two minutes at one every two seconds. */
const samplesKept = 60;

/**
 * Each projector's position and lag (live), parked entries with a retry and, one by one, a
 * dismissal (reversible), last rebuild.
 */
export const projectionsPage: Page = async ({ root, announce, every, left }) => {
  const chart = h('div', {});
  const statuses = h('div', {});
  const parked = h('div', {});
  const lag = new Map<string, Series>();
  const load = async () => {
    const report = orShowError(await callAdmin<ProjectionsReport>('GET', '/api/admin/projections'), statuses);
    if (!report || left()) return;
    const now = Date.now();
    for (const projection of report.projections) {
      const series = lag.get(projection.name) ?? { name: projection.name, points: [] };
      series.points = [...series.points, [now, projection.behind] as [number, number]].slice(-samplesKept);
      lag.set(projection.name, series);
    }
    const first = Math.min(...[...lag.values()].map((series) => series.points[0]?.[0] ?? now));
    show(
      chart,
      lineChart({
        title: 'Lag: log entries each projection has still to apply',
        summary: report.projections
          .map((projection) => `${projection.name}: ${projection.behind} behind`)
          .join('; '),
        series: [...lag.values()],
        xRange: [Math.min(first, now - 1000), now],
        xLabel: (x) => `${Math.round((x - now) / 1000)} s`,
      }),
    );
    show(
      statuses,
      dataTable(
        'Projections',
        [
          { label: 'Projection', value: (row) => row.name },
          { label: 'Position', value: (row) => row.position, numeric: true },
          { label: 'Behind', value: (row) => row.behind, numeric: true },
          { label: 'Parked', value: (row) => row.parkedEntries, numeric: true },
          { label: 'Dismissed', value: (row) => row.dismissedEntries, numeric: true },
          {
            label: 'Checkpoint moved',
            value: (row) => (row.updatedAt ? formatTime(row.updatedAt) : 'not run yet'),
          },
          {
            label: 'Last rebuild',
            value: (row) =>
              row.lastRebuild
                ? [
                    formatTime(row.lastRebuild.at),
                    ` (${row.lastRebuild.reason}, ${row.lastRebuild.entries} entries${row.lastRebuild.quiet ? ', quiet' : ''})`,
                  ]
                : 'never',
          },
        ],
        report.projections,
      ),
    );
    show(
      parked,
      dataTable(
        'Parked entries (newest first)',
        [
          { label: 'Projection', value: (row) => row.projection },
          { label: 'Position', value: (row) => row.position, numeric: true },
          { label: 'Entry type', value: (row) => h('code', {}, row.entryType) },
          { label: 'Reason', value: (row) => h('span', { class: 'reason' }, text(row.error)) },
          { label: 'Parked at', value: (row) => formatTime(row.occurredAt) },
          {
            label: 'Decision',
            value: (row) => [
              row.dismissedAt ? ['dismissed ', formatTime(row.dismissedAt), ' '] : '',
              decide(row),
            ],
          },
        ],
        report.parkedEntries,
        'No parked entries: every log entry applied.',
      ),
      report.parkedEntries.some((entry) => !entry.dismissedAt) && retry,
    );
  };
  // Dismissed: retries and rebuilds pass it over; the log keeps it, and undoing parks it again.
  const decide = (entry: ParkedEntry) =>
    actionButton(
      entry.dismissedAt ? 'Park again' : 'Dismiss',
      async () => {
        const undo = entry.dismissedAt !== null;
        const answer = await callAdmin('POST', '/api/admin/projections/dismiss', {
          positions: [entry.position],
          projection: entry.projection,
          undo,
        });
        if (answer.error) return announce(answer.error.message, 'error');
        announce(`Entry ${entry.position} ${undo ? 'parked again' : 'dismissed: it will never apply'}.`);
        await load();
      },
      {
        'aria-label': `${entry.dismissedAt ? 'Park again' : 'Dismiss'} the entry at position ${entry.position} of ${entry.projection}`,
      },
    );
  const retry = actionButton('Retry parked entries', async () => {
    const answer = await callAdmin<{
      retries: Array<{ projection: string; retried: number; applied: number; stillParked: number }>;
    }>('POST', '/api/admin/projections/retry', {});
    if (answer.error) return announce(answer.error.message, 'error');
    const applied = answer.data.retries.reduce((sum, each) => sum + each.applied, 0);
    const still = answer.data.retries.reduce((sum, each) => sum + each.stillParked, 0);
    announce(`Retried: ${applied} applied, ${still} still parked.`);
    await load();
  });
  show(root, section('Lag', chart), section('Checkpoints', statuses), section('Parked entries', parked));
  await load();
  every(2000, load);
};
