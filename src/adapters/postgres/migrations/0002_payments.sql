-- The payments.* tables and the engine state behind them (winning snapshots, links, pairings).

-- The winning snapshot of every Stripe object (SPEC section 5): the latest observed second wins,
-- ties decided by one rule over the whole second. `deleted` stays once seen; the snapshot is then
-- the best snapshot that is not a deletion.
create table payments.stripe_objects (
  environment text not null check (environment in ('test', 'live')),
  object_type text not null,
  object_id text not null,
  observed_at timestamptz not null,
  deleted boolean not null default false,
  snapshot jsonb not null,
  created_at timestamptz not null,
  updated_at timestamptz not null,
  primary key (environment, object_type, object_id)
);
-- Projectors look objects up by id in batches (`object_id = any(...)`).
create index stripe_objects_object_id on payments.stripe_objects (object_id);

-- The candidates of each object's latest observed second (deletions apart): the only ones that
-- can still win, so that a new candidate of the same second is judged against all of them.
create table payfold.stripe_object_candidates (
  environment text not null,
  object_type text not null,
  object_id text not null,
  candidate_key text not null,
  observed_at bigint not null,
  source text not null,
  event_id text,
  event_type text,
  is_created boolean not null,
  is_deletion boolean not null,
  -- The winner's snapshot is not stored twice: it is the one in payments.stripe_objects.
  is_winner boolean not null,
  previous_attributes jsonb,
  snapshot jsonb,
  recorded_at timestamptz not null,
  primary key (environment, object_type, object_id, candidate_key)
);
create index stripe_object_candidates_object_id on payfold.stripe_object_candidates (object_id);

-- Snapshots are a few KB each: lz4 compresses them at a fraction of pglz's cost.
do $$
begin
  if exists (select 1 from pg_settings where name = 'default_toast_compression' and 'lz4' = any(enumvals)) then
    alter table payments.stripe_objects alter column snapshot set compression lz4;
    alter table payfold.stripe_object_candidates alter column snapshot set compression lz4;
  end if;
end
$$;

-- What each winning snapshot points at (a charge's payment intent, an invoice's subscription…),
-- so that rows built from several objects are recomputed when any of them changes.
create table payfold.stripe_object_links (
  environment text not null,
  object_type text not null,
  object_id text not null,
  link text not null,
  target_id text not null,
  primary key (environment, object_type, object_id, link, target_id)
);
create index stripe_object_links_target on payfold.stripe_object_links (environment, target_id, link);
create index stripe_object_links_object_id on payfold.stripe_object_links (object_id);

-- Every observed pairing of a subject with a customer, at its earliest observed second.
create table payfold.subject_pairings (
  environment text not null,
  subject_type text not null,
  subject_id text not null,
  customer_id text not null,
  observed_at bigint not null,
  recorded_at timestamptz not null,
  primary key (environment, subject_type, subject_id, customer_id)
);
create index subject_pairings_customer on payfold.subject_pairings (environment, customer_id);

-- Ties that only the event id or the snapshot hash could break: a re-fetch from Stripe settles them.
create table payfold.ambiguous_ties (
  environment text not null,
  object_type text not null,
  object_id text not null,
  observed_at bigint not null,
  recorded_at timestamptz not null default now(),
  primary key (environment, object_type, object_id, observed_at)
);

create table payments.products (
  environment text not null check (environment in ('test', 'live')),
  product_id text not null,
  name text,
  description text,
  active boolean,
  default_price_id text,
  metadata jsonb not null default '{}',
  deleted boolean not null default false,
  created_at timestamptz not null,
  updated_at timestamptz not null,
  primary key (environment, product_id)
);

create table payments.prices (
  environment text not null check (environment in ('test', 'live')),
  price_id text not null,
  product_id text,
  active boolean,
  currency text,
  unit_amount bigint,
  type text,
  recurring_interval text,
  recurring_interval_count integer,
  lookup_key text,
  nickname text,
  metadata jsonb not null default '{}',
  deleted boolean not null default false,
  created_at timestamptz not null,
  updated_at timestamptz not null,
  primary key (environment, price_id)
);
create index prices_product on payments.prices (environment, product_id);

create table payments.customers (
  environment text not null check (environment in ('test', 'live')),
  customer_id text not null,
  email text,
  name text,
  metadata jsonb not null default '{}',
  deleted boolean not null default false,
  subject_type text,
  subject_id text,
  created_at timestamptz not null,
  updated_at timestamptz not null,
  primary key (environment, customer_id)
);

create table payments.customer_mappings (
  environment text not null check (environment in ('test', 'live')),
  subject_type text not null,
  subject_id text not null,
  customer_id text not null,
  created_at timestamptz not null,
  updated_at timestamptz not null,
  primary key (environment, subject_type, subject_id),
  unique (environment, customer_id)
);

create table payments.checkout_sessions (
  id uuid primary key,
  environment text not null check (environment in ('test', 'live')),
  checkout_session_id text,
  mode text,
  status text not null,
  payment_status text,
  subject_type text,
  subject_id text,
  customer_email text,
  line_items jsonb,
  success_url text,
  cancel_url text,
  idempotency_key text,
  customer_id text,
  payment_intent_id text,
  subscription_id text,
  url text,
  last_error text,
  metadata jsonb not null default '{}',
  created_at timestamptz not null,
  updated_at timestamptz not null
);
create unique index checkout_sessions_stripe_id on payments.checkout_sessions (environment, checkout_session_id);
create index checkout_sessions_subject on payments.checkout_sessions (environment, subject_type, subject_id);

create table payments.customer_portal_sessions (
  id uuid primary key,
  environment text not null check (environment in ('test', 'live')),
  status text not null,
  subject_type text,
  subject_id text,
  customer_id text,
  return_url text,
  url text,
  last_error text,
  created_at timestamptz not null,
  updated_at timestamptz not null
);

create table payments.subscriptions (
  environment text not null check (environment in ('test', 'live')),
  subscription_id text not null,
  customer_id text,
  subject_type text,
  subject_id text,
  status text,
  current_period_start timestamptz,
  current_period_end timestamptz,
  cancel_at_period_end boolean not null default false,
  cancel_at timestamptz,
  canceled_at timestamptz,
  ended_at timestamptz,
  trial_start timestamptz,
  trial_end timestamptz,
  latest_invoice_id text,
  metadata jsonb not null default '{}',
  created_at timestamptz not null,
  updated_at timestamptz not null,
  primary key (environment, subscription_id)
);
create index subscriptions_subject on payments.subscriptions (environment, subject_type, subject_id);
create index subscriptions_customer on payments.subscriptions (environment, customer_id);

create table payments.subscription_items (
  environment text not null check (environment in ('test', 'live')),
  subscription_item_id text not null,
  subscription_id text not null,
  price_id text,
  product_id text,
  quantity bigint,
  created_at timestamptz not null,
  updated_at timestamptz not null,
  primary key (environment, subscription_item_id)
);
create index subscription_items_subscription on payments.subscription_items (environment, subscription_id);

create table payments.invoices (
  environment text not null check (environment in ('test', 'live')),
  invoice_id text not null,
  customer_id text,
  subscription_id text,
  status text,
  amount_due bigint,
  amount_paid bigint,
  currency text,
  hosted_invoice_url text,
  paid_at timestamptz,
  metadata jsonb not null default '{}',
  deleted boolean not null default false,
  created_at timestamptz not null,
  updated_at timestamptz not null,
  primary key (environment, invoice_id)
);
create index invoices_subscription on payments.invoices (environment, subscription_id);

-- One row per payment: a payment intent, or a charge made without one (`payment_id` is then the
-- charge id).
create table payments.payment_history (
  environment text not null check (environment in ('test', 'live')),
  payment_id text not null,
  payment_intent_id text,
  charge_id text,
  type text not null,
  status text not null,
  subject_type text,
  subject_id text,
  customer_id text,
  invoice_id text,
  subscription_id text,
  amount bigint,
  amount_refunded bigint not null default 0,
  currency text,
  paid_at timestamptz,
  failed_at timestamptz,
  created_at timestamptz not null,
  updated_at timestamptz not null,
  primary key (environment, payment_id)
);
create index payment_history_subject on payments.payment_history (environment, subject_type, subject_id);
create index payment_history_customer on payments.payment_history (environment, customer_id);

create table payments.refunds (
  environment text not null check (environment in ('test', 'live')),
  refund_id text not null,
  charge_id text,
  payment_intent_id text,
  amount bigint,
  currency text,
  status text,
  reason text,
  metadata jsonb not null default '{}',
  created_at timestamptz not null,
  updated_at timestamptz not null,
  primary key (environment, refund_id)
);

create table payments.disputes (
  environment text not null check (environment in ('test', 'live')),
  dispute_id text not null,
  charge_id text,
  payment_intent_id text,
  amount bigint,
  currency text,
  status text,
  reason text,
  created_at timestamptz not null,
  updated_at timestamptz not null,
  primary key (environment, dispute_id)
);

-- For policies: `payfold.current_user_id()` is the `sub` claim of the caller's token (PostgREST style).
create function payfold.current_user_id() returns text language sql stable as $$
  select nullif(current_setting('request.jwt.claims', true), '')::json ->> 'sub'
$$;
