-- Stripe Entitlements (README "Tables"): the catalog's features, and the features each customer may
-- use now, with the subject, for policies and triggers that grant them.
create table payments.features (
  environment text not null check (environment in ('test', 'live')),
  feature_id text not null,
  name text,
  lookup_key text,
  active boolean,
  metadata jsonb not null default '{}',
  created_at timestamptz not null,
  updated_at timestamptz not null,
  primary key (environment, feature_id)
);

create table payments.entitlements (
  environment text not null check (environment in ('test', 'live')),
  customer_id text not null,
  lookup_key text not null,
  subject_type text,
  subject_id text,
  feature_id text,
  active_entitlement_id text not null,
  created_at timestamptz not null,
  updated_at timestamptz not null,
  primary key (environment, customer_id, lookup_key)
);
-- What a policy asks: may this subject use this feature?
create index entitlements_subject on payments.entitlements (environment, subject_type, subject_id, lookup_key);

-- Their change capture comes after the migrations, from payfold.capture_changes_of_new_tables().
