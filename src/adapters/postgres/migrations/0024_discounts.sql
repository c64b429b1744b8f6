-- Applied discounts (README "Tables"), a subscription's discounts and what discounts took off an invoice.
create table payments.discounts (
  environment text not null check (environment in ('test', 'live')),
  discount_id text not null,
  customer_id text,
  subject_type text,
  subject_id text,
  coupon_id text,
  promotion_code_id text,
  subscription_id text,
  invoice_id text,
  checkout_session_id text,
  start_at timestamptz,
  end_at timestamptz,
  deleted boolean not null default false,
  created_at timestamptz not null,
  updated_at timestamptz not null,
  primary key (environment, discount_id)
);
create index discounts_subscription on payments.discounts (environment, subscription_id);
create index discounts_subject on payments.discounts (environment, subject_type, subject_id);

alter table payments.subscriptions add column discount_ids jsonb not null default '[]';
alter table payments.invoices add column amount_discounted bigint;

-- Their change capture comes after the migrations, from payfold.capture_changes_of_new_tables().
