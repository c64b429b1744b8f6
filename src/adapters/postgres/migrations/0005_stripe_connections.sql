-- One Stripe account per environment. The secret key is stored sealed (AES-256-GCM under
-- PAYFOLD_MASTER_KEY, see src/adapters/secret-box.ts); only its masked form is ever shown.
create table payfold.stripe_connections (
  environment text primary key check (environment in ('test', 'live')),
  secret_key_sealed text not null,
  masked_key text not null,
  account_id text not null,
  -- A removed connection stays, inactive, so that its account is remembered.
  active boolean not null default true,
  connected_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
