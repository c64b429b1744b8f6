-- The floor under a catch-up, in Postgres alone: what any build of this log must write, without
-- any of Payfold's own work. Run against a database holding a log, such as the one the catch_up
-- measure leaves on the Postgres it was given:
--   BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npm run bench -- --only catch_up --entries 50000
--   psql -h 127.0.0.1 -U postgres -d payfold_bench_catch_up -f bench/catch-up-floor.sql
-- It times two statements, each the product's own insert fed straight from the log: a
-- `payments.webhook_events` row per entry, and a winner per object in `payments.stripe_objects`
-- (its snapshot parsed into `jsonb` from text, as the projection's parameter is). Both run with the
-- change stream as it is set. The log is parsed and the winners chosen beforehand, untimed: that is
-- the projection's own work. The rows of the other payments tables are left out, so the sum is a
-- lower bound. Everything is rolled back, the emptying of the two tables first included.
\set ON_ERROR_STOP on
begin;

truncate payments.webhook_events, payments.stripe_objects;

create temp table floor_entries on commit drop as
select position, environment, recorded_at, data::jsonb as event from payfold.events where type = 'stripe.event';

create temp table floor_winners on commit drop as
select distinct on (environment, object_type, object_id)
  environment, object_type, object_id, observed_at, snapshot_text, recorded_at
from (
  select environment, event -> 'data' -> 'object' ->> 'object' as object_type,
         event -> 'data' -> 'object' ->> 'id' as object_id, (event ->> 'created')::bigint as observed_at,
         (event -> 'data' -> 'object')::text as snapshot_text, recorded_at, position
  from floor_entries
) as candidates
where object_id is not null
order by environment, object_type, object_id, observed_at desc, position desc;

\timing on
\echo 'webhook_events: one row per entry'
insert into payments.webhook_events (
  environment, event_id, event_type, api_version, livemode, object_type, object_id,
  received_at, log_position, created_at, updated_at)
select environment, event ->> 'id', event ->> 'type', event ->> 'api_version', (event ->> 'livemode')::boolean,
       event -> 'data' -> 'object' ->> 'object', event -> 'data' -> 'object' ->> 'id',
       recorded_at, position, recorded_at, recorded_at
from floor_entries
on conflict (environment, event_id) do nothing;

\echo 'stripe_objects: one winner per object, its snapshot parsed from text'
insert into payments.stripe_objects
  (environment, object_type, object_id, observed_at, deleted, snapshot, created_at, updated_at)
select environment, object_type, object_id, to_timestamp(observed_at), false, snapshot_text::jsonb, recorded_at, now()
from floor_winners;
\timing off

rollback;
