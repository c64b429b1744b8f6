-- A session request's first write when the log is not in Postgres (EventStoreDB): the function
-- inserts the row as the caller and leaves the append to the caller, who appends to the other
-- store before committing this transaction (README "Running on EventStoreDB"). With the log in
-- Postgres, `append_entry` keeps row and entry in one transaction, as before.
drop function payfold.begin_session_request(text, text, regclass, jsonb, text, boolean, text, text, smallint, text, text, json);

create function payfold.begin_session_request(
  caller_role text,
  caller_claims text,
  session_table regclass,
  session_row jsonb,
  idempotency_key text,
  check_only boolean,
  entry_environment text,
  entry_type text,
  entry_version smallint,
  entry_dedupe_key text,
  entry_stream text,
  entry_data json,
  append_entry boolean
) returns table (status text, request_id text, request_fingerprint text)
language plpgsql as $$
declare
  insert_row constant text := format(
    'insert into %1$s select * from jsonb_populate_record(null::%1$s, $1) on conflict do nothing', session_table);
  timed_row constant jsonb := session_row || jsonb_build_object(
    'created_at', date_trunc('milliseconds', now()), 'updated_at', now());
  inserted integer;
begin
  if caller_role not in ('anon', 'authenticated') then
    raise exception 'a session request runs as anon or authenticated, not %', caller_role;
  end if;
  perform set_config('role', caller_role, true), set_config('request.jwt.claims', caller_claims, true);
  if check_only then
    begin
      execute insert_row using timed_row;
      raise exception using errcode = 'PFCHK'; -- undoes the insert: the check passed
    exception when sqlstate 'PFCHK' then
      null;
    end;
    perform set_config('role', 'none', true);
    return query select 'begun', null::text, null::text;
    return;
  end if;
  execute insert_row using timed_row;
  get diagnostics inserted = row_count;
  if inserted = 0 and idempotency_key is not null then
    return query
      select 'existing', c.id::text, c.request_fingerprint from payments.checkout_sessions c
      where c.environment = entry_environment and c.idempotency_key = begin_session_request.idempotency_key;
    if not found then
      return query select 'hidden', null::text, null::text;
    end if;
    perform set_config('role', 'none', true);
    return;
  end if;
  perform set_config('role', 'none', true);
  if append_entry then
    insert into payfold.events (environment, type, version, dedupe_key, stream, data)
    values (entry_environment, entry_type, entry_version, entry_dedupe_key, entry_stream, entry_data)
    on conflict (dedupe_key) do nothing;
  end if;
  return query select 'begun', null::text, null::text;
end
$$;
