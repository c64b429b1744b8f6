import { SingleBar } from 'cli-progress';
import type { RebuildProgress } from '../projections/engine/index.js';

/**
 * How a rebuild reports progress. On a terminal: a bar per projection over the log's entries
 * (cli-progress), then a line when it applies the difference. Elsewhere: a line per phase.
 */
export const rebuildProgressReporter = (
  logEntries: number,
  output: NodeJS.WriteStream = process.stderr,
): ((progress: RebuildProgress) => void) => {
  if (!output.isTTY) {
    const announced = new Set<string>();
    return (progress) => {
      const key = `${progress.projection}:${progress.phase}`;
      if (announced.has(key)) return;
      announced.add(key);
      output.write(
        progress.phase === 'building'
          ? `${progress.projection}: building from the log\n`
          : `${progress.projection}: applying the difference to the live tables\n`,
      );
    };
  }
  let bar: SingleBar | undefined;
  let current = '';
  return (progress) => {
    if (progress.phase === 'building') {
      if (current !== progress.projection) {
        bar?.stop();
        current = progress.projection;
        bar = new SingleBar({
          stream: output,
          format: `${progress.projection.padEnd(16)} [{bar}] {percentage}% {value}/{total} entries {eta_formatted}`,
          hideCursor: true,
        });
        bar.start(Math.max(logEntries, progress.entries), 0);
      }
      bar?.setTotal(Math.max(logEntries, progress.entries));
      bar?.update(progress.entries);
      return;
    }
    bar?.stop();
    bar = undefined;
    output.write(`${progress.projection.padEnd(16)} applying the difference to the live tables\n`);
  };
};
