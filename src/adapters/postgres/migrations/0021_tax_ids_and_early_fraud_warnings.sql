-- Customers' tax ids and Radar's early fraud warnings (README "Tables").
create table payments.tax_ids (
  environment text not null check (environment in ('test', 'live')),
  tax_id_id text not null,
  customer_id text,
  subject_type text,
  subject_id text,
  type text,
  value text,
  country text,
  verification_status text,
  deleted boolean not null default false,
  created_at timestamptz not null,
  updated_at timestamptz not null,
  primary key (environment, tax_id_id)
);
create index tax_ids_customer on payments.tax_ids (environment, customer_id);
create index tax_ids_subject on payments.tax_ids (environment, subject_type, subject_id);

create table payments.early_fraud_warnings (
  environment text not null check (environment in ('test', 'live')),
  early_fraud_warning_id text not null,
  charge_id text,
  payment_intent_id text,
  fraud_type text,
  actionable boolean,
  created_at timestamptz not null,
  updated_at timestamptz not null,
  primary key (environment, early_fraud_warning_id)
);
create index early_fraud_warnings_charge on payments.early_fraud_warnings (environment, charge_id);
create index early_fraud_warnings_payment_intent on payments.early_fraud_warnings (environment, payment_intent_id);

-- Their change capture comes after the migrations, from payfold.capture_changes_of_new_tables().
