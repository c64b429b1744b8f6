-- The change stream is captured once per statement, not once per row: a trigger with transition
-- tables writes every change of a statement with one insert. Capture by 0008's row trigger (a
-- PL/pgSQL body and a key aggregate per row) took a third of the time a projection spent catching
-- up on a log (`npm run bench -- --only catch_up`); this way it costs about 40% less per row. What
-- is captured is unchanged.
drop function payfold.capture_row_change() cascade;

-- TG_ARGV names the table's key columns; a row's key is the row without its other columns. An
-- update's row before and after are paired by key: the projections and the rebuild's difference
-- never change a row's key. Security definer: a session request's first row is written as the
-- caller (anon or authenticated), who may not write here.
create function payfold.capture_row_changes() returns trigger language plpgsql
security definer set search_path = pg_catalog as $$
declare
  position bigint := nullif(current_setting('payfold.log_position', true), '')::bigint;
  source text := tg_table_schema || '.' || tg_table_name;
  others text[];
begin
  select coalesce(array_agg(attname::text), '{}') into others
  from pg_attribute
  where attrelid = tg_relid and attnum > 0 and not attisdropped and attname::text <> all(tg_argv);
  if tg_op = 'INSERT' then
    insert into payfold.row_changes (table_name, operation, environment, row_key, new_row, log_position)
    select source, 'insert', captured ->> 'environment', captured - others, captured, position
    from (select to_jsonb(r) as captured from new_rows r) as inserted;
  elsif tg_op = 'UPDATE' then
    insert into payfold.row_changes (table_name, operation, environment, row_key, new_row, old_row, log_position)
    select source, 'update', after.captured ->> 'environment', after.key, after.captured, before.captured, position
    from (select captured, captured - others as key
          from (select to_jsonb(r) as captured from new_rows r) as rows) as after
    join (select captured, captured - others as key
          from (select to_jsonb(r) as captured from old_rows r) as rows) as before using (key);
  else
    insert into payfold.row_changes (table_name, operation, environment, row_key, old_row, log_position)
    select source, 'delete', captured ->> 'environment', captured - others, captured, position
    from (select to_jsonb(r) as captured from old_rows r) as deleted;
  end if;
  return null;
end
$$;

-- On every payments table, one trigger per operation: a trigger with transition tables may name
-- only one event. Each gets the table's key columns, as 0008's did.
do $$
declare
  t record;
  arguments text;
begin
  for t in
    select c.oid::regclass as live,
           array_agg(a.attname::text order by array_position(i.indkey::int2[], a.attnum)) as keys
    from pg_class c
    join pg_namespace n on n.oid = c.relnamespace and n.nspname = 'payments'
    join pg_index i on i.indrelid = c.oid and i.indisprimary
    join pg_attribute a on a.attrelid = c.oid and a.attnum = any(i.indkey)
    where c.relkind = 'r'
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
  end loop;
end
$$;

-- A change of payments.stripe_objects carries its 2-5 KB snapshot, before and after: compressed
-- with lz4 like the snapshots themselves (0004), where the server has it.
do $$
begin
  alter table payfold.row_changes alter column new_row set compression lz4;
  alter table payfold.row_changes alter column old_row set compression lz4;
exception when feature_not_supported or invalid_parameter_value then
  raise notice 'lz4 is not available on this server: changes stay compressed with pglz';
end
$$;

-- Every change is written with three index entries. The times and log positions of changes grow
-- with their ids, so a block-range index serves the prune (by time) and the replay (from a time or
-- a log position), and is far smaller to keep up than a b-tree.
drop index payfold.row_changes_changed_at;
drop index payfold.row_changes_log_position;
create index row_changes_changed_at on payfold.row_changes using brin (changed_at);
create index row_changes_log_position on payfold.row_changes using brin (log_position);
