-- The session API (README "Sessions for your app"): what the app's row-level security policies
-- call, and a request's first write as the caller.

-- For policies: `payfold.current_user_id()` is the `sub` claim of the caller's token (PostgREST style).
create or replace function payfold.current_user_id() returns text language sql stable as $$
  select nullif(current_setting('request.jwt.claims', true), '')::json ->> 'sub'
$$;

-- For policies, beside `payfold.current_user_id()`: all of the caller's claims
-- (`payfold.jwt_claims() ->> 'email'`, say), `{}` outside a session request.
create or replace function payfold.jwt_claims() returns jsonb language sql stable as $$
  select coalesce(nullif(current_setting('request.jwt.claims', true), '')::jsonb, '{}'::jsonb)
$$;

-- The only functions an end user's role may run: the ones its policies call.
grant execute on function payfold.current_user_id(), payfold.jwt_claims() to anon, authenticated;

-- A session request's first write, in one statement (and so one transaction): its row inserted as
-- the caller, so that the caller's policies decide (an RLS refusal raises 42501), then its log
-- entry appended as Payfold (unless the log is elsewhere: `append_entry` false). With an
-- idempotency key (checkout requests of a signed-in caller only), the caller's latest attempt
-- under that key in the last 24 hours is answered instead (`existing`: its id and fingerprint),
-- unless it is `superseded_request_id` (an attempt whose session expired), which a new attempt
-- replaces. Answers `begun` when the row and entry are written (or, with check_only, the row
-- would have been). The row's `created_at` is the transaction's time to the millisecond, as the
-- projection reads the entry's `recorded_at` back, so that projecting the entry changes nothing.
-- Not security definer, and its search path is the caller's: the app's policy functions may name
-- their tables without a schema.
create or replace function payfold.begin_session_request(
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
  append_entry boolean,
  superseded_request_id uuid
) returns table (status text, request_id text, request_fingerprint text)
language plpgsql as $$
declare
  insert_row constant text := format(
    'insert into %1$s select * from jsonb_populate_record(null::%1$s, $1)', session_table);
  timed_row constant jsonb := session_row || jsonb_build_object(
    'created_at', date_trunc('milliseconds', now()), 'updated_at', now());
  requester constant text := session_row ->> 'requested_by';
  latest record;
begin
  if session_table not in ('payments.checkout_sessions'::regclass, 'payments.customer_portal_sessions'::regclass) then
    raise exception using errcode = 'insufficient_privilege',
      message = format('%s is not a session table', session_table);
  end if;
  if caller_role not in ('anon', 'authenticated') then
    raise exception 'a session request runs as anon or authenticated, not %', caller_role;
  end if;
  if idempotency_key is not null and not check_only then
    if requester is null or session_table <> 'payments.checkout_sessions'::regclass then
      raise exception 'an idempotency key names a checkout request of a signed-in caller';
    end if;
    -- One decision at a time per caller and key: a concurrent retry waits for this transaction's
    -- row, then finds it.
    perform pg_advisory_xact_lock(
      hashtextextended(format('%s/%s/%s', entry_environment, requester, idempotency_key), 7402711003));
    select c.id, c.request_fingerprint into latest
    from payments.checkout_sessions c
    where c.environment = entry_environment and c.requested_by = requester
      and c.idempotency_key = begin_session_request.idempotency_key
      and c.created_at > now() - interval '24 hours'
    order by c.created_at desc
    limit 1;
    if found and latest.id is distinct from superseded_request_id then
      return query select 'existing', latest.id::text, latest.request_fingerprint;
      return;
    end if;
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
  perform set_config('role', 'none', true);
  if append_entry then
    insert into payfold.events (environment, type, version, dedupe_key, stream, data)
    values (entry_environment, entry_type, entry_version, entry_dedupe_key, entry_stream, entry_data)
    on conflict (dedupe_key) do nothing;
  end if;
  return query select 'begun', null::text, null::text;
end
$$;
