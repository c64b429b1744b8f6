import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { startEmbeddedCluster } from '../adapters/postgres/embedded.js';
import type { PayfoldConfig } from './config.js';
import { ConfigError, decodeMasterKey } from './config.js';

export interface PayfoldDatabase {
  url: string;
  embedded: boolean;
  masterKey: Buffer;
  stop(): Promise<void>;
}

/**
 * `DATABASE_URL` when set; otherwise an embedded Postgres kept under `<data dir>/postgres`, with a
 * master key generated once into `<data dir>/master.key`, so that a new user needs only Node.
 */
export const openDatabase = async (
  config: PayfoldConfig,
  onLog: (line: string) => void = () => undefined,
): Promise<PayfoldDatabase> => {
  if (config.databaseUrl) {
    // loadConfig guarantees a master key whenever DATABASE_URL is set.
    const masterKey = config.masterKey as Buffer;
    return { url: config.databaseUrl, embedded: false, masterKey, stop: async () => undefined };
  }
  const masterKey =
    config.masterKey ?? (await readOrCreateMasterKey(path.join(config.dataDirectory, 'master.key')));
  const cluster = await startEmbeddedCluster({
    dataDirectory: path.resolve(config.dataDirectory, 'postgres'),
    persistent: true,
    onLog,
    // serve and project close it on signals after their own work (see the CLI); status and
    // migrate finish in moments, and a cluster a killed process left running is reused.
    stoppedByCaller: true,
  });
  return { url: cluster.url, embedded: true, masterKey, stop: cluster.stop };
};

const readOrCreateMasterKey = async (file: string): Promise<Buffer> => {
  if (existsSync(file)) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      throw new ConfigError(
        `Invalid configuration: ${file} cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'}); it holds the master key of the stored secrets`,
      );
    }
    const key = decodeMasterKey(text.trim());
    if (!key) {
      throw new ConfigError(
        `Invalid configuration: ${file} must hold a 32-byte master key (64 hex characters); restore it from a backup, or set PAYFOLD_MASTER_KEY`,
      );
    }
    return key;
  }
  await mkdir(path.dirname(file), { recursive: true });
  const key = randomBytes(32);
  await writeFile(file, `${key.toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
  return key;
};
