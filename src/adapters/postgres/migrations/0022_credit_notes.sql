-- Credit notes (README "Tables"), and on each invoice what its credit notes took off.
create table payments.credit_notes (
  environment text not null check (environment in ('test', 'live')),
  credit_note_id text not null,
  invoice_id text,
  customer_id text,
  subject_type text,
  subject_id text,
  amount bigint,
  currency text,
  status text,
  type text,
  reason text,
  refund_ids jsonb not null default '[]',
  out_of_band_amount bigint,
  memo text,
  voided_at timestamptz,
  metadata jsonb not null default '{}',
  created_at timestamptz not null,
  updated_at timestamptz not null,
  primary key (environment, credit_note_id)
);
create index credit_notes_invoice on payments.credit_notes (environment, invoice_id);
create index credit_notes_subject on payments.credit_notes (environment, subject_type, subject_id);

alter table payments.invoices add column amount_credited bigint;

-- Their change capture comes after the migrations, from payfold.capture_changes_of_new_tables().
