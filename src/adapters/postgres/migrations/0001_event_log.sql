-- The event log, its readers' checkpoints, and the first projection (webhook deliveries).
create schema if not exists payfold;
create schema if not exists payments;

-- The immutable log. `data` is `json`, not `jsonb`: it keeps a Stripe event byte for byte as it was
-- signed, and it is cheaper to insert on the ingest path (no binary conversion).
create table payfold.events (
  position bigint generated always as identity primary key,
  transaction_id xid8 not null default pg_current_xact_id(),
  environment text not null check (environment in ('test', 'live')),
  type text not null,
  version smallint not null,
  dedupe_key text not null unique,
  stream text not null,
  data json not null,
  metadata jsonb not null default '{}',
  recorded_at timestamptz not null default now()
);
create index events_global_order on payfold.events (transaction_id, position);

-- Compressing a 4 KB body with lz4 costs a fraction of the default pglz, on the ingest hot path.
do $$
begin
  if exists (select 1 from pg_settings where name = 'default_toast_compression' and 'lz4' = any(enumvals)) then
    alter table payfold.events alter column data set compression lz4;
  end if;
end
$$;

create function payfold.reject_event_change() returns trigger language plpgsql as $$
begin
  raise exception 'payfold.events is append-only';
end
$$;
create trigger events_append_only before update or delete on payfold.events
  for each row execute function payfold.reject_event_change();
create trigger events_no_truncate before truncate on payfold.events
  for each statement execute function payfold.reject_event_change();

-- Wakes subscribers once per appending statement; delivered only when the append commits.
create function payfold.notify_events_appended() returns trigger language plpgsql as $$
begin
  perform pg_notify('payfold_events', '');
  return null;
end
$$;
create trigger events_notify after insert on payfold.events
  for each statement execute function payfold.notify_events_appended();

-- Reads the global order without ever skipping an entry that commits late.
-- Positions come from a sequence, so a writer can take position 10 and commit after another writer
-- committed position 11; a reader that had moved past 11 would never see 10. Instead of serialising
-- writers (which would cap ingest throughput at one commit at a time), every entry is stamped with
-- its transaction id and readers only read entries of transactions older than the oldest one still
-- running (`pg_snapshot_xmin`). Everything below that bound is finished, and every transaction that
-- finishes later has a larger id, so ordering by (transaction_id, position) is gap-free.
-- The cost: a long transaction anywhere in the cluster holds readers back until it ends.
create function payfold.read_events(p_after_transaction_id xid8, p_after_position bigint, p_limit integer)
returns setof payfold.events
language sql stable as $$
  select *
  from payfold.events
  where (transaction_id, position) > (p_after_transaction_id, p_after_position)
    and transaction_id < pg_snapshot_xmin(pg_current_snapshot())
  order by transaction_id, position
  limit p_limit
$$;

create table payfold.projection_checkpoints (
  projection text primary key,
  transaction_id xid8 not null default '0',
  position bigint not null default 0,
  updated_at timestamptz not null default now()
);

-- Entries a projector could not apply. The runner parks them here and moves on (see README).
create table payfold.projection_errors (
  projection text not null,
  position bigint not null,
  transaction_id xid8 not null,
  entry_type text not null,
  error text not null,
  occurred_at timestamptz not null default now(),
  primary key (projection, position)
);

create table payments.webhook_events (
  environment text not null check (environment in ('test', 'live')),
  event_id text not null,
  event_type text not null,
  api_version text,
  livemode boolean not null,
  object_type text,
  object_id text,
  received_at timestamptz not null,
  log_position bigint not null,
  created_at timestamptz not null,
  updated_at timestamptz not null,
  primary key (environment, event_id)
);
create index webhook_events_object on payments.webhook_events (environment, object_type, object_id);
