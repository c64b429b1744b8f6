-- Payment methods and setup intents (README "Tables"): which card a renewal charges, and when it
-- expires; cards saved without a payment.
create table payments.payment_methods (
  environment text not null check (environment in ('test', 'live')),
  payment_method_id text not null,
  customer_id text,
  subject_type text,
  subject_id text,
  type text,
  card_brand text,
  card_last4 text,
  card_exp_month integer,
  card_exp_year integer,
  wallet text,
  billing_country text,
  attached boolean not null,
  customer_default boolean not null,
  subscription_defaults jsonb not null default '[]',
  metadata jsonb not null default '{}',
  created_at timestamptz not null,
  updated_at timestamptz not null,
  primary key (environment, payment_method_id)
);
create index payment_methods_customer on payments.payment_methods (environment, customer_id);
create index payment_methods_subject on payments.payment_methods (environment, subject_type, subject_id);

create table payments.setup_intents (
  environment text not null check (environment in ('test', 'live')),
  setup_intent_id text not null,
  customer_id text,
  subject_type text,
  subject_id text,
  status text,
  usage text,
  payment_method_id text,
  last_error_code text,
  last_error_message text,
  metadata jsonb not null default '{}',
  created_at timestamptz not null,
  updated_at timestamptz not null,
  primary key (environment, setup_intent_id)
);
create index setup_intents_customer on payments.setup_intents (environment, customer_id);
create index setup_intents_subject on payments.setup_intents (environment, subject_type, subject_id);

-- Their change capture comes after the migrations, from payfold.capture_changes_of_new_tables().
