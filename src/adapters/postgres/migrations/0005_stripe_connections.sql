-- One Stripe account per environment, and the state of its syncs. The secret key is stored sealed (AES-256-GCM under
-- PAYFOLD_MASTER_KEY, see src/adapters/secret-box.ts); only its masked form is ever shown.
create table payfold.stripe_connections (
  environment text primary key check (environment in ('test', 'live')),
  secret_key_sealed text not null,
  masked_key text not null,
  account_id text not null,
  -- The webhook endpoint Payfold created in the account (PAYFOLD_PUBLIC_URL) and its signing
  -- secret, sealed like the key.
  webhook_endpoint_id text,
  webhook_secret_sealed text,
  -- A removed connection stays, inactive, so that its account is remembered.
  active boolean not null default true,
  connected_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

-- Where each kind of object stands in the latest sync of an environment: a sync that stops
-- half-way resumes after the last page it appended (appending a page twice is a duplicate).
create table payfold.stripe_sync_cursors (
  environment text not null check (environment in ('test', 'live')),
  object_kind text not null,
  sync_id uuid not null,
  next_cursor text,
  pages integer not null default 0,
  objects integer not null default 0,
  started_at timestamptz not null default now(),
  finished_at timestamptz,
  primary key (environment, object_kind)
);
