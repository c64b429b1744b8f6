import type { Environment } from '../domain/environment.js';
import type { NewLogEntry } from '../domain/event-log.js';
import type { Caller } from '../domain/session-requests.js';
import type { Subject } from '../domain/subject.js';

/*
 * What the use cases keep in Postgres besides the log and the projections' tables, each as the
 * store its use case needs. `src/adapters/postgres` implements them with named statements.
 */

/** A row of `payfold.stripe_connections`, the key still sealed. */
export interface StoredStripeConnection {
  environment: Environment;
  secretKeySealed: string;
  maskedKey: string;
  accountId: string;
  webhookEndpointId: string | null;
  webhookSecretSealed: string | null;
  /** The Billing Portal configuration Payfold created because the account had none. */
  portalConfigurationId: string | null;
  active: boolean;
  connectedAt: Date;
  updatedAt: Date;
}

/** The stored Stripe connections, one per environment. */
export interface StripeConnectionsStore {
  all(): Promise<StoredStripeConnection[]>;
  save(
    environment: Environment,
    secretKeySealed: string,
    maskedKey: string,
    accountId: string,
  ): Promise<void>;
  /** Marks the environment's connection removed; the account it had, if it was active. */
  deactivate(environment: Environment): Promise<string | undefined>;
  reseal(
    environment: Environment,
    secretKeySealed: string,
    webhookSecretSealed: string | null,
  ): Promise<void>;
  saveWebhookEndpoint(environment: Environment, endpointId: string, secretSealed: string): Promise<void>;
  savePortalConfiguration(environment: Environment, configurationId: string): Promise<void>;
}

/** Where one kind of object stands in an environment's latest sync. */
export interface SyncCursor {
  objectKind: string;
  syncId: string;
  nextCursor: string | null;
  pages: number;
  objects: number;
  startedAt: Date;
  finishedAt: Date | null;
}

/** Where each kind of object stands in the latest sync of an environment, so a sync resumes. */
export interface StripeSyncCursorsStore {
  all(environment: Environment): Promise<SyncCursor[]>;
  start(environment: Environment, objectKind: string, syncId: string): Promise<void>;
  /** The objects of a type the tables hold as not deleted: those a finished sync must have seen. */
  mirrored(environment: Environment, objectType: string): Promise<string[]>;
  /** Records an appended page: where the next one starts (null: the kind is done). */
  advance(
    environment: Environment,
    objectKind: string,
    syncId: string,
    nextCursor: string | null,
    objects: number,
  ): Promise<void>;
  /** Records that a kind is done with nothing to list (per-customer kinds of an account without customers). */
  finish(environment: Environment, objectKind: string, syncId: string): Promise<void>;
}

/** What reconcile reads of the tables. */
export interface ReconcileStore {
  /** The winning snapshots of these objects, by id (deleted ones left out). */
  winners(
    environment: Environment,
    objectType: string,
    ids: readonly string[],
  ): Promise<Map<string, Record<string, unknown>>>;
  /** Objects of a type the tables hold as live that are not among these. */
  winnersNotListed(
    environment: Environment,
    objectType: string,
    listed: readonly string[],
  ): Promise<string[]>;
  /** Objects whose winner only an id could choose (see README "Convergence"). */
  ties(environment: Environment): Promise<Array<{ objectType: string; objectId: string }>>;
  settleTie(environment: Environment, objectType: string, objectId: string): Promise<void>;
}

/** The session tables whose first row a request writes as its caller. */
export type SessionTable = 'payments.checkout_sessions' | 'payments.customer_portal_sessions';

export type BeginResult =
  | { status: 'begun' }
  | { status: 'denied' }
  /** The caller's idempotency key names an attempt of the last 24 hours: this one. */
  | { status: 'existing'; requestId: string; fingerprint: string | null };

export interface BeginRequest {
  caller: Caller;
  table: SessionTable;
  row: Record<string, unknown>;
  entry: NewLogEntry;
  /**
   * For a checkout request of a signed-in caller: the key of the attempt (the row's `requested_by`
   * scopes it to the caller). The caller's latest attempt under it in the last 24 hours is answered
   * instead of a new one, unless it is `supersedes` (an attempt whose session expired).
   */
  idempotencyKey?: string;
  supersedes?: string;
  /** Only check that the caller may make the request, then leave nothing behind. */
  checkOnly?: boolean;
}

/** The session API's writes and reads, each as Payfold or, where it says so, as the caller. */
export interface SessionRequestsStore {
  customerOfSubject(environment: Environment, subject: Subject): Promise<string | null>;
  /**
   * A request's first write, in one transaction: its row inserted as the caller (so the app's RLS
   * policies decide), then its log entry appended as Payfold. Both commit, or neither.
   */
  begin(request: BeginRequest): Promise<BeginResult>;
}

/**
 * Secrets at rest: sealed under the master key, bound to the place they belong (say
 * `stripe_connections/test`), opened with whichever master key sealed them.
 */
export interface SecretBox {
  seal(secret: string, belongsTo: string): string;
  open(sealed: string, belongsTo: string): string;
  /** Whether the current master key sealed it (a rotation seals the others again). */
  sealedUnderCurrentKey(sealed: string): boolean;
}
