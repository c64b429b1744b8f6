-- Least privilege for functions (README "Least privilege"). Postgres lets every role (PUBLIC)
-- execute a new function, and anon and authenticated have USAGE on this schema (0006): so every
-- end user's role, and the serving role, could call the rebuild's security definer functions on a
-- table of their choosing (shadow an app table, write the shadow, apply it as the owner; empty
-- payfold.migrations; turn any table's triggers off with `quiet`). From here on:
-- - no function of schema payfold is executable by PUBLIC (the migrator revokes it again after
--   every migration: a per-schema `alter default privileges … revoke … from public` is a no-op in
--   Postgres, and a global one would change the app's own functions in every schema);
-- - anon and authenticated may run what their policies call, and nothing else;
-- - the serving role gets an explicit list (grant_serving_role below);
-- - the security definer functions act only on the tables the projections write.
revoke all on all functions in schema payfold from public;
revoke all on all functions in schema payfold from anon, authenticated;
grant execute on function payfold.current_user_id(), payfold.jwt_claims() to anon, authenticated;

-- The tables Payfold's projections write (each projector's `tables`), and so the only tables a
-- rebuild may shadow, compare and apply. Never the log, the migrations or another schema's table.
-- test/least-privilege.test.ts checks this list against the projectors' own.
create function payfold.projection_tables() returns setof regclass
language sql stable set search_path = pg_catalog as $$
  values
    ('payments.webhook_events'::regclass),
    ('payments.stripe_objects'::regclass),
    ('payments.customer_mappings'::regclass),
    ('payments.products'::regclass),
    ('payments.prices'::regclass),
    ('payments.customers'::regclass),
    ('payments.checkout_sessions'::regclass),
    ('payments.customer_portal_sessions'::regclass),
    ('payments.subscriptions'::regclass),
    ('payments.subscription_items'::regclass),
    ('payments.invoices'::regclass),
    ('payments.payment_history'::regclass),
    ('payments.refunds'::regclass),
    ('payments.disputes'::regclass),
    ('payfold.stripe_object_candidates'::regclass),
    ('payfold.stripe_object_links'::regclass),
    ('payfold.subject_pairings'::regclass),
    ('payfold.ambiguous_ties'::regclass)
$$;

create function payfold.require_projection_table(live regclass) returns void
language plpgsql stable set search_path = pg_catalog as $$
begin
  if live is null or not exists (select 1 from payfold.projection_tables() as t where t = live) then
    raise exception using errcode = 'insufficient_privilege',
      message = format('%s is not a table of Payfold''s projections', coalesce(live::text, 'null'));
  end if;
end
$$;

create or replace function payfold.prepare_rebuild_shadow(live_tables text[]) returns void
language plpgsql security definer set search_path = pg_catalog as $$
declare
  live text;
begin
  foreach live in array live_tables loop
    perform payfold.require_projection_table(to_regclass(live));
  end loop;
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

create or replace function payfold.apply_rebuilt_table(
  live regclass,
  quiet boolean,
  out inserted bigint,
  out updated bigint,
  out deleted bigint
) language plpgsql security definer set search_path = pg_catalog as $$
declare
  quieted record;
  quieted_names text[] := '{}';
  quieted_states "char"[] := '{}';
begin
  perform payfold.require_projection_table(live);
  if quiet then
    for quieted in
      select tgname, tgenabled from pg_trigger where tgrelid = live and not tgisinternal and tgenabled <> 'D'
    loop
      quieted_names := quieted_names || quieted.tgname::text;
      quieted_states := quieted_states || quieted.tgenabled;
      execute format('alter table %s disable trigger %I', live, quieted.tgname);
    end loop;
  end if;
  select d.inserted, d.updated, d.deleted into inserted, updated, deleted
  from payfold.apply_rebuilt_difference(live, false) as d;
  for i in 1 .. coalesce(array_length(quieted_names, 1), 0) loop
    execute format('alter table %s enable %s trigger %I', live,
      case quieted_states[i] when 'A' then 'always' when 'R' then 'replica' else '' end, quieted_names[i]);
  end loop;
end
$$;

-- Only apply_rebuilt_table calls it, already as the owner: it need not be a definer of its own.
alter function payfold.apply_rebuilt_difference(regclass, boolean) security invoker;

-- Reconcile's dry run compares as the owner, since a serving role's reads of the session tables are
-- filtered by their row-level security; only tables of the projections.
create or replace function payfold.compare_rebuilt_table(
  live regclass,
  out missing bigint,
  out differing bigint,
  out extra bigint,
  out differing_columns text[]
) language plpgsql security definer set search_path = pg_catalog as $$
declare
  shadow text;
  keys text[];
  others text[];
  key_match text;
begin
  perform payfold.require_projection_table(live);
  select * into shadow, keys, others, key_match from payfold.rebuilt_table_shape(live);
  execute format('select count(*) from %s s where not exists (select 1 from %s l where %s)', shadow, live, key_match)
    into missing;
  execute format('select count(*) from %s l where not exists (select 1 from %s s where %s)', live, shadow, key_match)
    into extra;
  execute format('select count(*) from %s l join %s s on %s where (%s) is distinct from (%s)',
    live, shadow, key_match,
    (select string_agg('l.' || c, ', ') from unnest(others) c),
    (select string_agg('s.' || c, ', ') from unnest(others) c))
    into differing;
  execute format(
    'select coalesce(array_agg(distinct c order by c), ''{}'') from %s l join %s s on %s,
       lateral unnest(array[%s]) as c where c is not null',
    live, shadow, key_match,
    (select string_agg(format('case when l.%1$s is distinct from s.%1$s then %2$L end', c, c), ', ') from unnest(others) c))
    into differing_columns;
end
$$;

-- The capture triggers exist on payments tables only; attached anywhere else, the function refuses.
create or replace function payfold.capture_row_changes() returns trigger language plpgsql
security definer set search_path = pg_catalog as $$
declare
  position bigint := nullif(current_setting('payfold.log_position', true), '')::bigint;
  source text := tg_table_schema || '.' || tg_table_name;
  others text[];
begin
  if tg_table_schema <> 'payments' then
    raise exception using errcode = 'insufficient_privilege',
      message = format('payfold.capture_row_changes captures payments tables, not %s', source);
  end if;
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
