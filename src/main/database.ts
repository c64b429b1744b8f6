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
  /** Which database, in words a person recognises (never a password). */
  description: string;
  /** An embedded cluster made by this start. */
  created: boolean;
  masterKey: Buffer;
  stop(): Promise<void>;
}

/** A connection string without its password: `postgres://payfold@db.example.com:5432/app`. */
const withoutPassword = (url: string): string => {
  const parsed = new URL(url);
  parsed.password = '';
  return parsed.toString();
};

/**
 * `DATABASE_URL` when set; otherwise an embedded Postgres kept under `<data dir>/postgres`, with a
 * master key generated once into `<data dir>/master.key`, so that a new user needs only Node.
 */
export const openDatabase = async (
  config: PayfoldConfig,
  onLog: (line: string) => void = () => undefined,
  options: { mustExist?: boolean } = {},
): Promise<PayfoldDatabase> => {
  if (config.databaseUrl) {
    // loadConfig guarantees a master key whenever DATABASE_URL is set.
    const masterKey = config.masterKey as Buffer;
    return {
      url: config.databaseUrl,
      embedded: false,
      description: withoutPassword(config.databaseUrl),
      created: false,
      masterKey,
      stop: async () => undefined,
    };
  }
  const dataDirectory = path.resolve(config.dataDirectory, 'postgres');
  const created = !existsSync(path.join(dataDirectory, 'PG_VERSION'));
  // A command that only reads has nothing to read in a folder without a cluster: it makes none.
  if (created && options.mustExist) {
    throw new ConfigError(
      `No database here: DATABASE_URL is not set and there is no embedded Postgres under ${dataDirectory} (payfold serve makes one)`,
    );
  }
  const masterKey =
    config.masterKey ?? (await readOrCreateMasterKey(path.join(config.dataDirectory, 'master.key')));
  const cluster = await startEmbeddedCluster({
    dataDirectory,
    persistent: true,
    onLog,
    // serve and project close it on signals after their own work (see the CLI); status and
    // migrate finish in moments, and a cluster a killed process left running is reused.
    stoppedByCaller: true,
  });
  return {
    url: cluster.url,
    embedded: true,
    description: `the embedded Postgres under ${dataDirectory}`,
    created,
    masterKey,
    stop: cluster.stop,
  };
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
