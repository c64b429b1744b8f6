-- The change stream of the payments tables, for TypeScript subscribers (README "Subscribers"):
-- every real change of a payments.* row, as the projection (or a rebuild's difference) wrote it.
-- Projections write a row only when a column changes, so a redelivered webhook, a replay or a
-- rebuild that changes nothing adds nothing here.
create table payfold.row_changes (
  id bigint generated always as identity primary key,
  transaction_id xid8 not null default pg_current_xact_id(),
  table_name text not null,
  operation text not null check (operation in ('insert', 'update', 'delete')),
  environment text,
  row_key jsonb not null,
  new_row jsonb,
  old_row jsonb,
  -- The last log entry of the projection batch that made the change (null for other writers).
  log_position bigint,
  changed_at timestamptz not null default clock_timestamp()
);
create index row_changes_order on payfold.row_changes (transaction_id, id);
create index row_changes_changed_at on payfold.row_changes (changed_at);
create index row_changes_log_position on payfold.row_changes (log_position);

-- TG_ARGV names the table's key columns. Security definer: a session request's first row is
-- written as the caller (anon or authenticated), who may not write here.
create function payfold.capture_row_change() returns trigger language plpgsql
security definer set search_path = pg_catalog as $$
declare
  changed jsonb := to_jsonb(coalesce(new, old));
begin
  insert into payfold.row_changes (table_name, operation, environment, row_key, new_row, old_row, log_position)
  values (
    tg_table_schema || '.' || tg_table_name,
    lower(tg_op),
    changed ->> 'environment',
    (select jsonb_object_agg(key, changed -> key) from unnest(tg_argv) as key),
    case when tg_op = 'DELETE' then null else to_jsonb(new) end,
    case when tg_op = 'INSERT' then null else to_jsonb(old) end,
    nullif(current_setting('payfold.log_position', true), '')::bigint);
  return null;
end
$$;

-- On every payments table (a migration that adds one adds this trigger to it).
do $$
declare
  t record;
begin
  for t in
    select c.oid::regclass as live, array_agg(a.attname::text order by array_position(i.indkey::int2[], a.attnum)) as keys
    from pg_class c
    join pg_namespace n on n.oid = c.relnamespace and n.nspname = 'payments'
    join pg_index i on i.indrelid = c.oid and i.indisprimary
    join pg_attribute a on a.attrelid = c.oid and a.attnum = any(i.indkey)
    where c.relkind = 'r'
    group by c.oid
  loop
    execute format(
      'create trigger payfold_capture_row_change after insert or update or delete on %s
         for each row execute function payfold.capture_row_change(%s)',
      t.live, (select string_agg(quote_literal(key), ', ') from unnest(t.keys) as key));
  end loop;
end
$$;

-- Changes in commit order, never skipping one that commits late (as payfold.read_events does for
-- the log: only transactions older than every running one are read).
create function payfold.read_row_changes(p_after_transaction_id xid8, p_after_id bigint, p_limit integer)
returns setof payfold.row_changes
language sql stable as $$
  select *
  from payfold.row_changes
  where (transaction_id, id) > (p_after_transaction_id, p_after_id)
    and transaction_id < pg_snapshot_xmin(pg_current_snapshot())
  order by transaction_id, id
  limit p_limit
$$;

create table payfold.subscriber_checkpoints (
  subscriber text primary key,
  transaction_id xid8 not null default '0',
  change_id bigint not null default 0,
  updated_at timestamptz not null default now()
);

-- Changes a subscriber's handler kept failing on, after its retries: parked, like projection errors.
create table payfold.subscriber_errors (
  subscriber text not null,
  change_id bigint not null,
  error text not null,
  attempts integer not null,
  occurred_at timestamptz not null default now(),
  primary key (subscriber, change_id)
);
