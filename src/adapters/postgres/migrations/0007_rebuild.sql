-- Rebuilding a projection without downtime (README "Rebuild"): its tables are built from the log
-- into shadow copies in the schema payfold_rebuild while the live tables keep serving, then only
-- the difference is applied to the live tables, in one short transaction, so that user triggers
-- fire for the rows that really change and user policies, grants and triggers stay untouched.

-- The version of the projector code that built a projection's tables: a newer one rebuilds them.
alter table payfold.projection_checkpoints add column projector_version integer not null default 1;

-- What each rebuild did, for status and operators.
create table payfold.projection_rebuilds (
  id bigint generated always as identity primary key,
  projection text not null,
  reason text not null,
  quiet boolean not null,
  started_at timestamptz not null,
  finished_at timestamptz not null default now(),
  entries bigint not null,
  -- Per table: {"payments.subscriptions": {"inserted": 0, "updated": 1, "deleted": 0}, …}
  changes jsonb not null
);

-- Empty shadow copies of the given tables (`payments.products`, `payfold.subject_pairings`…), by
-- their own name in payfold_rebuild: same columns, defaults, constraints and indexes; no triggers,
-- policies or grants (CREATE TABLE … LIKE copies none of those).
create function payfold.prepare_rebuild_shadow(live_tables text[]) returns void language plpgsql as $$
declare
  live text;
begin
  drop schema if exists payfold_rebuild cascade;
  create schema payfold_rebuild;
  foreach live in array live_tables loop
    execute format('create table payfold_rebuild.%I (like %s including all)',
      (select relname from pg_class where oid = live::regclass), live::regclass);
  end loop;
end
$$;

create function payfold.drop_rebuild_shadow() returns void language sql as $$
  drop schema if exists payfold_rebuild cascade
$$;

-- A live table's shadow copy, primary key, other compared columns (all but updated_at) and the
-- join condition of the two by key: what applying and comparing a rebuilt table both need.
create function payfold.rebuilt_table_shape(
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
-- inserted. A row that is the same is not written, so its triggers do not fire. With `quiet`, user
-- triggers are off for the length of the transaction (ALTER TABLE … DISABLE TRIGGER USER), for
-- repairs that must not re-run fulfillment.
create function payfold.apply_rebuilt_table(
  live regclass,
  quiet boolean,
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

  if quiet then
    execute format('alter table %s disable trigger user', live);
  end if;

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

  if quiet then
    execute format('alter table %s enable trigger user', live);
  end if;
end
$$;

-- What apply_rebuilt_table would do, without doing it (reconcile's dry run): rows the live table
-- lacks, rows that differ (and in which columns), rows the log does not support.
create function payfold.compare_rebuilt_table(
  live regclass,
  out missing bigint,
  out differing bigint,
  out extra bigint,
  out differing_columns text[]
) language plpgsql as $$
declare
  shadow text;
  keys text[];
  others text[];
  key_match text;
begin
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
