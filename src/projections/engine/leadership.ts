import type pg from 'pg';
import type { Logger } from 'pino';

/** What is led: each kind's locks have their own first key (the second is a hash of the name). */
export type LeadershipKind = 'projection' | 'subscriber';
const lockClasses: Record<LeadershipKind, number> = { projection: 7_402_711, subscriber: 7_402_712 };

const statements = {
  // `pg_stat_activity` then shows which process leads: `payfold projection leader <pid>`, say.
  nameConnection: "select set_config('application_name', $1, false)",
  tryLead: 'select pg_try_advisory_lock($1, hashtext($2)) as led',
} as const;

export interface LeadershipOptions {
  pool: pg.Pool;
  logger: Logger;
  /** How often a process that leads nothing asks again (a dead leader's lock is gone at once). */
  retryMs?: number;
}

/**
 * Which projections (or subscribers) this process leads: one session advisory lock per name, held
 * on a connection of its own for as long as the process lives. Several `payfold serve` or `payfold
 * project` processes may run; each projection has one active writer and each subscriber one
 * deliverer, and when its process dies, its connection closes, Postgres releases the lock, and
 * another process takes it at its next try. A lock connection that breaks gives up every lead.
 *
 * For projections, leadership only keeps the other processes from contending: correctness does not
 * rest on it. A batch runs under its checkpoint's row lock, so two writers (a leader whose lock
 * connection broke while a batch was still running, say) wait for each other and never apply an
 * entry twice.
 */
export class Leadership {
  private client: pg.PoolClient | undefined;
  private readonly led = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly retryMs: number;

  constructor(
    private readonly kind: LeadershipKind,
    private readonly names: readonly string[],
    private readonly options: LeadershipOptions,
    /** Called when this process starts to lead a name. */
    private readonly onLead: (name: string) => void = () => undefined,
  ) {
    this.retryMs = options.retryMs ?? 1000;
  }

  /** Tries once to lead every name (so that startup knows what it leads), then keeps trying. */
  async start(): Promise<void> {
    await this.tryToLead();
    this.schedule();
  }

  /** Tries once to lead every name, and no more: for a command that leads what nobody leads, briefly. */
  async tryOnce(): Promise<void> {
    await this.tryToLead();
  }

  leads(name: string): boolean {
    return this.led.has(name);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    // Closing the connection releases every lock it holds: another process takes over at once.
    this.client?.release(true);
    this.client = undefined;
    this.led.clear();
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(async () => {
      await this.tryToLead();
      this.schedule();
    }, this.retryMs);
    this.timer.unref();
  }

  private async tryToLead(): Promise<void> {
    if (this.stopped || this.led.size === this.names.length) return;
    try {
      if (!this.client) {
        const client = await this.options.pool.connect();
        client.on('error', (error) => this.lost(client, error));
        this.client = client;
        await client.query(statements.nameConnection, [`payfold ${this.kind} leader ${process.pid}`]);
      }
      for (const name of this.names) {
        if (this.led.has(name)) continue;
        const { rows } = await this.client.query<{ led: boolean }>(statements.tryLead, [
          lockClasses[this.kind],
          name,
        ]);
        if (!rows[0]?.led) continue;
        this.led.add(name);
        this.options.logger.info({ [this.kind]: name }, `leading this ${this.kind}`);
        this.onLead(name);
      }
    } catch (error) {
      if (this.client) this.lost(this.client, error as Error);
    }
  }

  /** The lock connection broke: its locks are gone with it, so this process leads nothing now. */
  private lost(client: pg.PoolClient, error: Error): void {
    if (this.client !== client) return;
    this.client = undefined;
    client.release(error);
    if (this.led.size > 0) {
      this.options.logger.warn(
        { [`${this.kind}s`]: [...this.led], err: { message: error.message } },
        `lost the lead of these ${this.kind}s; trying again`,
      );
    }
    this.led.clear();
  }
}
