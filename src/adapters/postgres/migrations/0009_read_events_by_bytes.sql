-- Reads bounded by bytes as well as by count: a batch of 1,000 entries of up to 1 MiB each would
-- hold a gigabyte in the reader. At least one entry is always read, whatever its size.
create function payfold.read_events(p_after_transaction_id xid8, p_after_position bigint, p_limit integer, p_max_bytes bigint)
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
