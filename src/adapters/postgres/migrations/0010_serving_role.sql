-- Least privilege (README "Least privilege"): migrations run as the owner of Payfold's schemas;
-- `payfold serve` may run as another role, which this grants what serving needs and no more. In
-- particular it may only read and append `payfold.events`: it cannot update or delete an entry,
-- nor disable the trigger that forbids it (only the owner can).
create function payfold.grant_serving_role(serving name) returns void language plpgsql as $$
begin
  execute format('grant usage on schema payfold, payments to %I', serving);
  execute format('grant select, insert on payfold.events to %I', serving);
  execute format('grant select on payfold.migrations to %I', serving);
  execute format('grant select, insert, update, delete on all tables in schema payments to %I', serving);
  execute format(
    'grant select, insert, update, delete on %s to %I',
    (select string_agg(format('payfold.%I', tablename), ', ') from pg_tables
     where schemaname = 'payfold' and tablename not in ('events', 'migrations')),
    serving);
  execute format('grant usage on all sequences in schema payfold, payments to %I', serving);
  execute format('grant execute on all functions in schema payfold to %I', serving);
  -- The session API takes on the caller's role for its first write.
  execute format('grant anon, authenticated to %I', serving);
end
$$;

-- The rebuild's shadow tables are made, compared and applied as the owner (`alter table … disable
-- trigger user` needs ownership); whoever runs the rebuild may write the shadow tables.
alter function payfold.prepare_rebuild_shadow(text[]) security definer set search_path = pg_catalog;
alter function payfold.drop_rebuild_shadow() security definer set search_path = pg_catalog;
alter function payfold.apply_rebuilt_table(regclass, boolean) security definer set search_path = pg_catalog;
alter function payfold.compare_rebuilt_table(regclass) security definer set search_path = pg_catalog;
create or replace function payfold.prepare_rebuild_shadow(live_tables text[]) returns void
language plpgsql security definer set search_path = pg_catalog as $$
declare
  live text;
begin
  drop schema if exists payfold_rebuild cascade;
  create schema payfold_rebuild;
  execute format('grant usage on schema payfold_rebuild to %I', session_user);
  foreach live in array live_tables loop
    execute format('create table payfold_rebuild.%I (like %s including all)',
      (select relname from pg_class where oid = live::regclass), live::regclass);
    execute format('grant select, insert, update, delete on payfold_rebuild.%I to %I',
      (select relname from pg_class where oid = live::regclass), session_user);
  end loop;
end
$$;
