import type { ChildProcess } from 'node:child_process';

/** The processes this test file started that have not exited yet, and how each is signalled. */
const running = new Map<ChildProcess, (signal: NodeJS.Signals) => void>();

/**
 * A process a test started (a `payfold serve`, an emulator…): stopped when its test file ends,
 * whether the file passed, failed or threw before the test's own cleanup (`stop-processes.ts`).
 * With `group`, the process was spawned `detached` and its whole process group is signalled, as a
 * terminal signals `npx payfold serve` and the `payfold` it runs (npx passes no signal on).
 */
export const startedByTest = <T extends ChildProcess>(child: T, options: { group?: boolean } = {}): T => {
  running.set(child, (signal) => {
    try {
      if (options.group && child.pid !== undefined) process.kill(-child.pid, signal);
      else child.kill(signal);
    } catch {
      // already gone
    }
  });
  child.once('exit', () => running.delete(child));
  return child;
};

/** Signals a process the way `startedByTest` was told to. */
export const signalStarted = (child: ChildProcess, signal: NodeJS.Signals): void => {
  running.get(child)?.(signal);
};

/**
 * Stops every process still running: SIGTERM first, so that a `payfold serve` stops its embedded
 * Postgres itself, then SIGKILL for one that has not exited 15 seconds later.
 */
export const stopStartedProcesses = async (): Promise<void> => {
  await Promise.all(
    [...running].map(
      ([child, signal]) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          const killer = setTimeout(() => signal('SIGKILL'), 15_000);
          child.once('exit', () => {
            clearTimeout(killer);
            resolve();
          });
          signal('SIGTERM');
        }),
    ),
  );
};

const signalAll = (signal: NodeJS.Signals) => {
  for (const signalOne of running.values()) signalOne(signal);
};

// A worker that exits without its hooks still tells its children to stop.
process.once('exit', () => signalAll('SIGTERM'));
// A worker whose runner is gone (an interrupted run: vitest does not wait for its workers) would
// run on, and its children with it: it stops them, and itself.
process.once('disconnect', () => {
  signalAll('SIGTERM');
  process.exit(1);
});
