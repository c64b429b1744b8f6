-- The log (payfold.events): append-only, readers woken on append, read in a gap-free global order.

create or replace function payfold.reject_event_change() returns trigger language plpgsql as $$
begin
  raise exception 'payfold.events is append-only';
end
$$;

-- Wakes subscribers once per appending statement; delivered only when the append commits.
create or replace function payfold.notify_events_appended() returns trigger language plpgsql as $$
begin
  perform pg_notify('payfold_events', '');
  return null;
end
$$;

-- Reads the global order without ever skipping an entry that commits late.
-- Positions come from a sequence, so a writer can take position 10 and commit after another writer
-- committed position 11; a reader that had moved past 11 would never see 10. Instead of serialising
-- writers (which would cap ingest throughput at one commit at a time), every entry is stamped with
-- its transaction id and readers only read entries of transactions older than the oldest one still
-- running (`pg_snapshot_xmin`). Everything below that bound is finished, and every transaction that
-- finishes later has a larger id, so ordering by (transaction_id, position) is gap-free.
-- The cost: a long transaction anywhere in the cluster holds readers back until it ends.
create or replace function payfold.read_events(p_after_transaction_id xid8, p_after_position bigint, p_limit integer)
returns setof payfold.events
language sql stable as $$
  select *
  from payfold.events
  where (transaction_id, position) > (p_after_transaction_id, p_after_position)
    and transaction_id < pg_snapshot_xmin(pg_current_snapshot())
  order by transaction_id, position
  limit p_limit
$$;

-- Reads bounded by bytes as well as by count: a batch of 1,000 entries of up to 1 MiB each would
-- hold a gigabyte in the reader. At least one entry is always read, whatever its size.
create or replace function payfold.read_events(p_after_transaction_id xid8, p_after_position bigint, p_limit integer, p_max_bytes bigint)
returns setof payfold.events
language sql stable as $$
  select (e).* from (
    select e, sum(octet_length(e.data::text)) over (order by e.transaction_id, e.position) as running,
           octet_length(e.data::text) as size
    from payfold.read_events(p_after_transaction_id, p_after_position, p_limit) as e
  ) bounded
  where running - size < p_max_bytes
  order by (e).transaction_id, (e).position
$$;
