-- Which features each product grants (README "Tables").
create table payments.product_features (
  environment text not null check (environment in ('test', 'live')),
  product_feature_id text not null,
  product_id text,
  feature_id text,
  lookup_key text,
  deleted boolean not null default false,
  created_at timestamptz not null,
  updated_at timestamptz not null,
  primary key (environment, product_feature_id)
);
create index product_features_product on payments.product_features (environment, product_id);

-- Its change capture comes after the migrations, from payfold.capture_changes_of_new_tables().
