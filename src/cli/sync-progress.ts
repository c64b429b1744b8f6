import type { SyncProgress } from '../app/sync-stripe.js';
import { syncObjectKinds } from '../domain/sync-kinds.js';

const kindWidth = Math.max(...syncObjectKinds.map((kind) => kind.length));

/** A sync kind as a column of a table on a terminal: as wide as the longest kind's name. */
export const kindColumn = (kind: string): string => kind.padEnd(kindWidth);

/**
 * How a sync reports progress. On a terminal: one live line per kind, redrawn in place (Stripe's
 * lists give no totals, so each line counts objects and pages, and turns to "done"). Elsewhere: a
 * plain line per kind when it is done.
 */
export const syncProgressReporter = (
  environment: string,
  output: NodeJS.WriteStream = process.stderr,
): ((progress: SyncProgress) => void) => {
  if (!output.isTTY) {
    return (progress) => {
      if (progress.done)
        output.write(
          `${environment} ${progress.objectKind}: ${progress.objects} objects in ${progress.pages} pages\n`,
        );
    };
  }
  const lines = new Map<string, SyncProgress>();
  const spinner = ['|', '/', '-', '\\'];
  let drawn = 0;
  let ticks = 0;
  return (progress) => {
    lines.set(progress.objectKind, progress);
    ticks += 1;
    // Back to the first line of the block, then every line again.
    if (drawn > 0) output.write(`\u001b[${drawn}A`);
    for (const line of lines.values()) {
      const state = line.done ? 'done' : (spinner[ticks % spinner.length] as string);
      output.write(
        `\u001b[2K${environment} ${kindColumn(line.objectKind)} ${state.padEnd(5)} ${String(line.objects).padStart(8)} objects ${String(line.pages).padStart(5)} pages\n`,
      );
    }
    drawn = lines.size;
  };
};
