-- An admin may decide that a parked entry will never apply (`payfold projections dismiss`): it
-- stays in the log and in this table, marked with when it was dismissed, and the mark can be taken
-- back. Rebuilds and retries pass a dismissed entry over; status counts it apart from the parked.
alter table payfold.projection_errors add column dismissed_at timestamptz;
