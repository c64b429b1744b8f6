import type { ReconcileReport } from '../app/reconcile.js';

const some = (ids: readonly string[]) =>
  ids.length > 3 ? `${ids.slice(0, 3).join(', ')}, …` : ids.join(', ');

/** A reconcile report as a person reads it: one line per finding, a table per kind of object. */
export const reconcileReportText = (report: ReconcileReport): string => {
  const width = Math.max('objects'.length, ...report.objects.map((kind) => kind.objectKind.length));
  const lines = [
    `reconcile ${report.environment}${report.dryRun ? ' (dry run: nothing changed)' : ''}: ${report.drift} difference${report.drift === 1 ? '' : 's'} in ${report.seconds} s`,
    `missed webhooks: ${report.missedEvents.missing.length} of ${report.missedEvents.listed} events of the last 30 days${report.missedEvents.missing.length > 0 ? ` (${some(report.missedEvents.missing)})` : ''}`,
    '',
    `${'objects'.padEnd(width)} ${'listed'.padStart(7)} ${'missing'.padStart(8)} ${'stale'.padStart(6)} ${'extra'.padStart(6)}  stale fields`,
    ...report.objects.map(
      (kind) =>
        `${kind.objectKind.padEnd(width)} ${String(kind.listed).padStart(7)} ${String(kind.missing.length).padStart(8)} ${String(kind.stale.length).padStart(6)} ${String(kind.extra.length).padStart(6)}  ${[...new Set(kind.stale.flatMap((stale) => stale.fields))].join(', ')}`,
    ),
    ...report.objects
      .filter((kind) => kind.informational.length > 0)
      .map(
        (kind) =>
          `informational, not drift: ${kind.informational.length} ${kind.objectKind} ${kind.informational.length === 1 ? 'differs' : 'differ'} only in fields no table shows (${[...new Set(kind.informational.flatMap((entry) => entry.fields))].join(', ')})`,
      ),
    '',
    `ambiguous ties: ${report.ambiguousTies.length}${report.ambiguousTies.length > 0 ? ` (${some(report.ambiguousTies.map((tie) => `${tie.objectType} ${tie.objectId}`))})` : ''}`,
    ...(Object.keys(report.tables).length === 0
      ? ['tables: every payments table is what the log builds']
      : Object.entries(report.tables).map(
          ([table, drift]) =>
            `${table}: ${drift.missing} missing, ${drift.differing} differing (${drift.differingColumns.join(', ')}), ${drift.extra} extra`,
        )),
    ...report.parkedEntries.map(
      (entry) =>
        `parked, passed over: ${entry.projection} at ${entry.position} (${entry.entryType}): ${entry.error}`,
    ),
    ...(report.repaired
      ? [
          '',
          'repaired: the missing events, a sync of what drifted and the tied objects are in the log; the tables are rebuilt from it',
        ]
      : report.dryRun && report.drift > 0
        ? ['', 'run it again without --dry-run to repair']
        : []),
  ];
  return lines.join('\n');
};
