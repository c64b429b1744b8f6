-- The change stream (payfold.row_changes) can be switched off where no TypeScript subscriber reads
-- it: an app that fulfils with its own triggers on payments.* gains the time capture costs (a sixth
-- to a quarter of a catch-up, `npm run bench -- --only catch_up`) and the disk it fills. The switch is the
-- capture triggers' own state, so there is nothing else to keep in step with it.

-- On: every payments table's capture triggers enabled; off: all of them disabled. A migration that
-- adds a payments table gives it enabled triggers, as 0014 does: switching again covers it.
-- Security definer, as the rebuild's functions (0010): only the tables' owner may alter them, and
-- a serving role may run `payfold change-stream`.
create function payfold.switch_change_stream(turn_on boolean) returns void language plpgsql
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
create function payfold.change_stream_is_on() returns boolean language sql stable as $$
  select coalesce(bool_and(t.tgenabled <> 'D'), false)
  from pg_trigger t
  join pg_class c on c.oid = t.tgrelid
  join pg_namespace n on n.oid = c.relnamespace and n.nspname = 'payments'
  where t.tgname like 'payfold\_capture\_%' and not t.tgisinternal
$$;

-- A quiet rebuild turned every user trigger off and then every one on, which also turned on the
-- triggers an app (or the switch above) had left off. 0007's function keeps writing the difference,
-- under a name of its own and never quiet itself; the function of the old name wraps it, turning off
-- only the triggers that are on and giving each back the state it had (ENABLE, ENABLE ALWAYS or
-- ENABLE REPLICA). Security definer, as 0010 made the old one.
alter function payfold.apply_rebuilt_table(regclass, boolean) rename to apply_rebuilt_difference;

create function payfold.apply_rebuilt_table(
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
