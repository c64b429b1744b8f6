-- The catalog's coupons and promotion codes (README "Tables").
create table payments.coupons (
  environment text not null check (environment in ('test', 'live')),
  coupon_id text not null,
  name text,
  percent_off numeric,
  amount_off bigint,
  currency text,
  duration text,
  duration_in_months integer,
  max_redemptions bigint,
  times_redeemed bigint,
  redeem_by timestamptz,
  valid boolean,
  metadata jsonb not null default '{}',
  deleted boolean not null default false,
  created_at timestamptz not null,
  updated_at timestamptz not null,
  primary key (environment, coupon_id)
);

create table payments.promotion_codes (
  environment text not null check (environment in ('test', 'live')),
  promotion_code_id text not null,
  code text,
  coupon_id text,
  active boolean,
  customer_id text,
  expires_at timestamptz,
  max_redemptions bigint,
  times_redeemed bigint,
  metadata jsonb not null default '{}',
  created_at timestamptz not null,
  updated_at timestamptz not null,
  primary key (environment, promotion_code_id)
);
-- What a checkout asks: which active code is this?
create index promotion_codes_code on payments.promotion_codes (environment, code);

-- Their change capture comes after the migrations, from payfold.capture_changes_of_new_tables().
