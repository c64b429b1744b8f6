-- Subscription schedules (README "Tables").
create table payments.subscription_schedules (
  environment text not null check (environment in ('test', 'live')),
  subscription_schedule_id text not null,
  customer_id text,
  subject_type text,
  subject_id text,
  subscription_id text,
  released_subscription_id text,
  status text,
  end_behavior text,
  current_phase_start timestamptz,
  current_phase_end timestamptz,
  phases jsonb not null default '[]',
  metadata jsonb not null default '{}',
  created_at timestamptz not null,
  updated_at timestamptz not null,
  primary key (environment, subscription_schedule_id)
);
create index subscription_schedules_subscription on payments.subscription_schedules (environment, subscription_id);
create index subscription_schedules_subject on payments.subscription_schedules (environment, subject_type, subject_id);

-- Its change capture comes after the migrations, from payfold.capture_changes_of_new_tables().
