-- The change stream is kept for a while, not forever (README "Subscribers"): changes older than
-- the retention go, unless a subscriber has yet to deliver them or one of them is parked.
create function payfold.prune_row_changes(older_than interval, at_most integer) returns integer
language sql as $$
  with doomed as (
    select r.id from payfold.row_changes r
    where r.changed_at < now() - older_than
      and not exists (
        select 1 from payfold.subscriber_checkpoints c
        where (r.transaction_id, r.id) > (c.transaction_id, c.change_id))
      and not exists (select 1 from payfold.subscriber_errors e where e.change_id = r.id)
    order by r.id
    limit at_most
  ),
  deleted as (delete from payfold.row_changes r using doomed d where r.id = d.id returning 1)
  select count(*)::int from deleted
$$;
