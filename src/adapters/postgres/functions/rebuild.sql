-- Rebuilding a projection without downtime (README "Rebuilding the tables from the log"): shadow
-- copies of its tables in the schema payfold_rebuild, built from the log while the live tables serve,
-- then only the difference applied to the live tables. The functions that make, compare and apply
-- the shadows are security definer (`alter table … disable trigger` needs ownership) and act only on
-- the tables of Payfold's projections.

-- The tables Payfold's projections write (each projector's `tables`), and so the only tables a
-- rebuild may shadow, compare and apply. Never the log, the migrations or another schema's table.
-- test/least-privilege.test.ts checks this list against the projectors' own.
create or replace function payfold.projection_tables() returns setof regclass
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
    ('payments.payment_methods'::regclass),
    ('payments.setup_intents'::regclass),
    ('payments.features'::regclass),
    ('payments.entitlements'::regclass),
    ('payments.tax_ids'::regclass),
    ('payments.early_fraud_warnings'::regclass),
    ('payments.credit_notes'::regclass),
    ('payments.coupons'::regclass),
    ('payments.promotion_codes'::regclass),
    ('payments.discounts'::regclass),
    ('payments.subscription_schedules'::regclass),
    ('payments.product_features'::regclass),
    ('payfold.stripe_object_candidates'::regclass),
    ('payfold.stripe_object_links'::regclass),
    ('payfold.subject_pairings'::regclass),
    ('payfold.ambiguous_ties'::regclass)
$$;

create or replace function payfold.require_projection_table(live regclass) returns void
language plpgsql stable set search_path = pg_catalog as $$
begin
  if live is null or not exists (select 1 from payfold.projection_tables() as t where t = live) then
    raise exception using errcode = 'insufficient_privilege',
      message = format('%s is not a table of Payfold''s projections', coalesce(live::text, 'null'));
  end if;
end
$$;

-- Empty shadow copies of the given tables (`payments.products`, `payfold.subject_pairings`…), by
-- their own name in payfold_rebuild: same columns, defaults, constraints and indexes; no triggers,
-- policies or grants (CREATE TABLE … LIKE copies none of those). Whoever runs the rebuild may write
-- them. Unlogged: they are built again from the log whenever lost (a crash empties them, and an
-- interrupted rebuild starts over anyway), so they skip the write-ahead log; what is applied from
-- them to the live tables is logged and durable as any write.
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
    execute format('create unlogged table payfold_rebuild.%I (like %s including all)',
      (select relname from pg_class where oid = live::regclass), live::regclass);
    execute format('grant select, insert, update, delete on payfold_rebuild.%I to %I',
      (select relname from pg_class where oid = live::regclass), session_user);
  end loop;
end
$$;

create or replace function payfold.drop_rebuild_shadow() returns void
language sql security definer set search_path = pg_catalog as $$
  drop schema if exists payfold_rebuild cascade
$$;

-- A live table's shadow copy, primary key, other compared columns (all but updated_at) and the
-- join condition of the two by key: what applying and comparing a rebuilt table both need.
create or replace function payfold.rebuilt_table_shape(
  live regclass,
  out shadow text,
  out keys text[],
  out others text[],
  out key_match text
) language plpgsql stable as $$
begin
  shadow := format('payfold_rebuild.%I', (select relname from pg_class where oid = live));
  select array_agg(quote_ident(a.attname) order by array_position(i.indkey::int2[], a.attnum))
    into keys
  from pg_index i join pg_attribute a on a.attrelid = i.indrelid and a.attnum = any(i.indkey)
  where i.indrelid = live and i.indisprimary;
  if keys is null then
    raise exception '% has no primary key', live;
  end if;
  select coalesce(array_agg(quote_ident(attname) order by attnum), '{}') into others
  from pg_attribute
  where attrelid = live and attnum > 0 and not attisdropped
    and quote_ident(attname) <> all(keys) and attname <> 'updated_at';
  select string_agg(format('l.%1$s = s.%1$s', key), ' and ') into key_match from unnest(keys) as key;
end
$$;

-- Makes a live table equal its shadow copy by its primary key: rows the shadow lacks are deleted,
-- rows whose columns differ (any column but updated_at) are updated, rows the live table lacks are
-- inserted. A row that is the same is not written, so its triggers do not fire. Only
-- apply_rebuilt_table calls it, already as the owner, so it is neither a definer of its own nor
-- anyone else's to run.
create or replace function payfold.apply_rebuilt_difference(
  live regclass,
  out inserted bigint,
  out updated bigint,
  out deleted bigint
) language plpgsql as $$
declare
  shadow text;
  keys text[];
  others text[];
  key_match text;
  has_updated_at boolean;
begin
  select * into shadow, keys, others, key_match from payfold.rebuilt_table_shape(live);
  select exists (select 1 from pg_attribute where attrelid = live and attname = 'updated_at' and not attisdropped)
    into has_updated_at;

  execute format('delete from %s l where not exists (select 1 from %s s where %s)', live, shadow, key_match);
  get diagnostics deleted = row_count;

  if array_length(others, 1) > 0 then
    execute format(
      'update %1$s l set (%2$s) = row(%3$s)%4$s from %5$s s where %6$s and (%7$s) is distinct from (%3$s)',
      live,
      array_to_string(others, ', '),
      (select string_agg('s.' || column_name, ', ') from unnest(others) as column_name),
      case when has_updated_at then ', updated_at = now()' else '' end,
      shadow,
      key_match,
      (select string_agg('l.' || column_name, ', ') from unnest(others) as column_name));
    get diagnostics updated = row_count;
  else
    updated := 0;
  end if;

  execute format('insert into %1$s select s.* from %2$s s where not exists (select 1 from %1$s l where %3$s)',
    live, shadow, key_match);
  get diagnostics inserted = row_count;
end
$$;

-- The difference applied with `quiet`: user triggers that are on are turned off for the length of
-- the transaction and each given back the state it had (ENABLE, ENABLE ALWAYS or ENABLE REPLICA),
-- for repairs that must not re-run fulfillment.
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
  from payfold.apply_rebuilt_difference(live) as d;
  for i in 1 .. coalesce(array_length(quieted_names, 1), 0) loop
    execute format('alter table %s enable %s trigger %I', live,
      case quieted_states[i] when 'A' then 'always' when 'R' then 'replica' else '' end, quieted_names[i]);
  end loop;
end
$$;

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
