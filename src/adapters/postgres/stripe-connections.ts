import type pg from 'pg';
import type { Environment } from '../../domain/environment.js';
import type { StoredStripeConnection, StripeConnectionsStore } from '../../ports/stores.js';

const statements = {
  read: `
    select environment, secret_key_sealed, masked_key, account_id, webhook_endpoint_id, webhook_secret_sealed,
           portal_configuration_id, active, connected_at, updated_at
    from payfold.stripe_connections order by environment`,
  save: `
    insert into payfold.stripe_connections as c (environment, secret_key_sealed, masked_key, account_id, active)
    values ($1, $2, $3, $4, true)
    on conflict (environment) do update set
      secret_key_sealed = excluded.secret_key_sealed, masked_key = excluded.masked_key,
      account_id = excluded.account_id, active = true, updated_at = now(),
      connected_at = case when c.active and c.account_id = excluded.account_id then c.connected_at else now() end`,
  deactivate: `
    update payfold.stripe_connections set active = false, updated_at = now()
    where environment = $1 and active
    returning account_id`,
  reseal: `
    update payfold.stripe_connections set secret_key_sealed = $2, webhook_secret_sealed = $3
    where environment = $1`,
  saveWebhookEndpoint: `
    update payfold.stripe_connections
    set webhook_endpoint_id = $2, webhook_secret_sealed = $3, updated_at = now()
    where environment = $1`,
  savePortalConfiguration: `
    update payfold.stripe_connections set portal_configuration_id = $2, updated_at = now()
    where environment = $1`,
} as const;

/** The stored Stripe connections (see migration 0005), by named statement. */
export const stripeConnectionsStore = (pool: pg.Pool): StripeConnectionsStore => ({
  async all(): Promise<StoredStripeConnection[]> {
    const { rows } = await pool.query(statements.read);
    return rows.map((row) => ({
      environment: row.environment,
      secretKeySealed: row.secret_key_sealed,
      maskedKey: row.masked_key,
      accountId: row.account_id,
      webhookEndpointId: row.webhook_endpoint_id,
      webhookSecretSealed: row.webhook_secret_sealed,
      portalConfigurationId: row.portal_configuration_id,
      active: row.active,
      connectedAt: row.connected_at,
      updatedAt: row.updated_at,
    }));
  },

  async save(environment: Environment, secretKeySealed: string, maskedKey: string, accountId: string) {
    await pool.query(statements.save, [environment, secretKeySealed, maskedKey, accountId]);
  },

  /** Marks the environment's connection removed; the account it had, if it was active. */
  async deactivate(environment: Environment): Promise<string | undefined> {
    const { rows } = await pool.query<{ account_id: string }>(statements.deactivate, [environment]);
    return rows[0]?.account_id;
  },

  async reseal(environment: Environment, secretKeySealed: string, webhookSecretSealed: string | null) {
    await pool.query(statements.reseal, [environment, secretKeySealed, webhookSecretSealed]);
  },

  async saveWebhookEndpoint(environment: Environment, endpointId: string, secretSealed: string) {
    await pool.query(statements.saveWebhookEndpoint, [environment, endpointId, secretSealed]);
  },

  async savePortalConfiguration(environment: Environment, configurationId: string) {
    await pool.query(statements.savePortalConfiguration, [environment, configurationId]);
  },
});
