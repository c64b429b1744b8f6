-- Least privilege (README "Least privilege"): migrations run as the owner of Payfold's schemas;
-- `payfold serve` may run as another role, which this grants what serving needs and no more, at each
-- start. In particular it may only read and append `payfold.events`: it cannot update or delete an
-- entry, nor disable the trigger that forbids it (only the owner can).

-- The serving role's grants, given again at each start: every function it was granted before
-- (0010 granted all of them) is revoked first, then it gets the functions serving calls. A serving
-- role is not the owner of the session tables, so their row-level security applies to it too: a
-- policy of its own lets the projections write their rows.
create or replace function payfold.grant_serving_role(serving name) returns void language plpgsql as $$
declare
  policy constant name := left('payfold_serving_' || serving, 63);
  live regclass;
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
  execute format('revoke all on all functions in schema payfold from %I', serving);
  execute format(
    'grant execute on function
       payfold.read_events(xid8, bigint, integer),
       payfold.read_events(xid8, bigint, integer, bigint),
       payfold.read_row_changes(xid8, bigint, integer),
       payfold.prune_row_changes(interval, integer),
       payfold.begin_session_request(text, text, regclass, jsonb, text, boolean, text, text, smallint, text, text, json, boolean, uuid),
       payfold.prepare_rebuild_shadow(text[]),
       payfold.drop_rebuild_shadow(),
       payfold.apply_rebuilt_table(regclass, boolean),
       payfold.compare_rebuilt_table(regclass),
       payfold.switch_change_stream(boolean),
       payfold.change_stream_is_on(),
       payfold.current_user_id(),
       payfold.jwt_claims()
     to %I', serving);
  -- The session API takes on the caller's role for its first write.
  execute format('grant anon, authenticated to %I', serving);
  -- On every payments table, whether its row-level security is on yet or not (an app may turn it on
  -- to expose a table to its users): the projections write every row.
  for live in
    select c.oid::regclass from pg_class c
    where c.relnamespace = 'payments'::regnamespace and c.relkind in ('r', 'p')
      and not exists (select 1 from pg_policy p where p.polrelid = c.oid and p.polname = policy)
  loop
    execute format('create policy %I on %s for all to %I using (true) with check (true)', policy, live, serving);
  end loop;
end
$$;
