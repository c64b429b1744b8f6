import { existsSync } from 'node:fs';
import { readFile, rename, writeFile } from 'node:fs/promises';
import type { EmulatorStore } from './store.js';

/**
 * A state file: read at start when it exists; rewritten (to a temporary file, then renamed, so a
 * crash never leaves half a file) shortly after each change, and on stop.
 */
export const openStateFile = async (file: string, store: EmulatorStore) => {
  if (existsSync(file)) store.restore(JSON.parse(await readFile(file, 'utf8')));
  let pending: NodeJS.Timeout | undefined;
  let writing = Promise.resolve();
  const write = () => {
    pending = undefined;
    writing = writing.then(async () => {
      await writeFile(`${file}.tmp`, JSON.stringify(store.snapshot()));
      await rename(`${file}.tmp`, file);
    });
    return writing;
  };
  return {
    changed: () => {
      pending ??= setTimeout(write, 100);
    },
    flush: async () => {
      if (pending) clearTimeout(pending);
      await write();
    },
  };
};
