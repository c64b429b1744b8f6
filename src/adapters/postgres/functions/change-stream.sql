-- The change stream of the payments tables (payfold.row_changes), for TypeScript subscribers
-- (README "Subscribers"): captured, read in commit order, pruned, switched on and off.

-- Every change of a payments table, captured once per statement by a trigger with transition
-- tables (one trigger per operation; migration 0014 puts them on each table with its key columns in
-- TG_ARGV). A row's key is built from its key columns (taking the other columns off the whole row
-- as `jsonb` cost twice as much); an update's row before and after are paired by key, since the
-- projections and the rebuild's difference never change a row's key. The statement is put together
-- once per firing, for the table's own key columns, and planned once per statement.
-- Security definer: a session request's first row is written as the caller (anon or authenticated),
-- who may not write here. It captures payments tables only: attached anywhere else, it refuses.
-- The winner store, payments.stripe_objects, carries the key, the operation and the log position
-- of its changes, never its 2-5 KB snapshot a second time: a subscriber that wants it reads the row.
create or replace function payfold.capture_row_changes() returns trigger language plpgsql
security definer set search_path = pg_catalog as $$
declare
  position bigint := nullif(current_setting('payfold.log_position', true), '')::bigint;
  source text := tg_table_schema || '.' || tg_table_name;
  key_of text;
  key_columns text;
  environment_of text := 'null';
  whole_row text := 'to_jsonb(%s)';
begin
  if tg_table_schema <> 'payments' then
    raise exception using errcode = 'insufficient_privilege',
      message = format('payfold.capture_row_changes captures payments tables, not %s', source);
  end if;
  select format('jsonb_build_object(%s)', string_agg(format('%L, r.%I', key, key), ', ')),
         string_agg(quote_ident(key), ', ')
    into key_of, key_columns
  from unnest(tg_argv) as key;
  if exists (select 1 from pg_attribute where attrelid = tg_relid and attname = 'environment' and not attisdropped) then
    environment_of := 'r.environment';
  end if;
  if source = 'payments.stripe_objects' then
    whole_row := 'null';
  end if;
  if tg_op = 'INSERT' then
    execute format(
      'insert into payfold.row_changes (table_name, operation, environment, row_key, new_row, log_position)
       select $1, ''insert'', %s, %s, %s, $2 from new_rows r',
      environment_of, key_of, format(whole_row, 'r'))
      using source, position;
  elsif tg_op = 'UPDATE' then
    execute format(
      'insert into payfold.row_changes (table_name, operation, environment, row_key, new_row, old_row, log_position)
       select $1, ''update'', %s, %s, %s, %s, $2 from new_rows r join old_rows b using (%s)',
      environment_of, key_of, format(whole_row, 'r'), format(whole_row, 'b'), key_columns)
      using source, position;
  else
    execute format(
      'insert into payfold.row_changes (table_name, operation, environment, row_key, old_row, log_position)
       select $1, ''delete'', %s, %s, %s, $2 from old_rows r',
      environment_of, key_of, format(whole_row, 'r'))
      using source, position;
  end if;
  return null;
end
$$;

-- Changes in commit order, never skipping one that commits late (as payfold.read_events does for
-- the log: only transactions older than every running one are read).
create or replace function payfold.read_row_changes(p_after_transaction_id xid8, p_after_id bigint, p_limit integer)
returns setof payfold.row_changes
language sql stable as $$
  select *
  from payfold.row_changes
  where (transaction_id, id) > (p_after_transaction_id, p_after_id)
    and transaction_id < pg_snapshot_xmin(pg_current_snapshot())
  order by transaction_id, id
  limit p_limit
$$;

-- The change stream is kept for a while, not forever (README "Subscribers"): changes older than
-- the retention go, unless a subscriber has yet to deliver them or one of them is parked.
create or replace function payfold.prune_row_changes(older_than interval, at_most integer) returns integer
language sql as $$
  with doomed as (
    select r.id from payfold.row_changes r
    where r.changed_at < now() - older_than
      and not exists (
        select 1 from payfold.subscriber_checkpoints c
        where (r.transaction_id, r.id) > (c.transaction_id, c.change_id))
      and not exists (select 1 from payfold.subscriber_errors e where e.change_id = r.id)
    order by r.id
    limit at_most
  ),
  deleted as (delete from payfold.row_changes r using doomed d where r.id = d.id returning 1)
  select count(*)::int from deleted
$$;

-- On: every payments table's capture triggers enabled; off: all of them disabled. A migration that
-- adds a payments table gives it enabled triggers, as 0014 does: switching again covers it.
-- Security definer, as the rebuild's functions (0010): only the tables' owner may alter them, and
-- a serving role may run `payfold change-stream`.
create or replace function payfold.switch_change_stream(turn_on boolean) returns void language plpgsql
security definer set search_path = pg_catalog as $$
declare
  capture record;
begin
  for capture in
    select t.tgrelid::regclass as live, t.tgname
    from pg_trigger t
    join pg_class c on c.oid = t.tgrelid
    join pg_namespace n on n.oid = c.relnamespace and n.nspname = 'payments'
    where t.tgname like 'payfold\_capture\_%' and not t.tgisinternal
  loop
    execute format('alter table %s %s trigger %I', capture.live,
      case when turn_on then 'enable' else 'disable' end, capture.tgname);
  end loop;
end
$$;

-- On only when every capture trigger is: a change stream with gaps is not one to rely on.
create or replace function payfold.change_stream_is_on() returns boolean language sql stable as $$
  select coalesce(bool_and(t.tgenabled <> 'D'), false)
  from pg_trigger t
  join pg_class c on c.oid = t.tgrelid
  join pg_namespace n on n.oid = c.relnamespace and n.nspname = 'payments'
  where t.tgname like 'payfold\_capture\_%' and not t.tgisinternal
$$;

-- The migrator calls this after every migrate: each payments table a migration added without
-- capture triggers gets them (one per operation, with its key columns, as migration 0014 gave the
-- first tables), enabled or disabled as the change stream is, so a stream switched off stays off.
create or replace function payfold.capture_changes_of_new_tables() returns void language plpgsql
set search_path = pg_catalog as $$
declare
  stream_on boolean := payfold.change_stream_is_on();
  t record;
  arguments text;
  operation text;
begin
  for t in
    select c.oid::regclass as live,
           array_agg(a.attname::text order by array_position(i.indkey::int2[], a.attnum)) as keys
    from pg_class c
    join pg_namespace n on n.oid = c.relnamespace and n.nspname = 'payments'
    join pg_index i on i.indrelid = c.oid and i.indisprimary
    join pg_attribute a on a.attrelid = c.oid and a.attnum = any(i.indkey)
    where c.relkind = 'r'
      and not exists (
        select 1 from pg_trigger g where g.tgrelid = c.oid and g.tgname like 'payfold\_capture\_%')
    group by c.oid
  loop
    arguments := (select string_agg(quote_literal(key), ', ') from unnest(t.keys) as key);
    execute format(
      'create trigger payfold_capture_inserts after insert on %s referencing new table as new_rows
         for each statement execute function payfold.capture_row_changes(%s)', t.live, arguments);
    execute format(
      'create trigger payfold_capture_updates after update on %s
         referencing old table as old_rows new table as new_rows
         for each statement execute function payfold.capture_row_changes(%s)', t.live, arguments);
    execute format(
      'create trigger payfold_capture_deletes after delete on %s referencing old table as old_rows
         for each statement execute function payfold.capture_row_changes(%s)', t.live, arguments);
    if not stream_on then
      foreach operation in array array['inserts', 'updates', 'deletes'] loop
        execute format('alter table %s disable trigger %I', t.live, 'payfold_capture_' || operation);
      end loop;
    end if;
  end loop;
end
$$;

