-- The session API writes the first row of each request as the caller (SPEC section 3): the role
-- `authenticated` for a token with a subject, `anon` for one without, with the token's claims in
-- `request.jwt.claims`, as PostgREST does. The app's own RLS policies on the session tables then
-- decide who may bill which subject.
do $$
begin
  create role anon nologin;
exception when duplicate_object or unique_violation then
  null; -- roles are per cluster: another database (or Supabase) made it already
end $$;

do $$
begin
  create role authenticated nologin;
exception when duplicate_object or unique_violation then
  null;
end $$;

-- Payfold's own role takes these roles on for the length of one transaction (`set local role`).
do $$
begin
  execute format('grant anon, authenticated to %I', current_user);
exception when insufficient_privilege or invalid_grant_operation then
  raise warning 'payfold: % cannot be granted the roles anon and authenticated; grant them so the session API can run as the caller', current_user;
end $$;

grant usage on schema payments to anon, authenticated;
grant usage on schema payfold to anon, authenticated;
grant select, insert on payments.checkout_sessions, payments.customer_portal_sessions to anon, authenticated;

-- Without a policy nobody may create a session: an app states who may bill which subject.
alter table payments.checkout_sessions enable row level security;
alter table payments.customer_portal_sessions enable row level security;

-- For policies, beside `payfold.current_user_id()` (migration 0002): all of the caller's claims
-- (`payfold.jwt_claims() ->> 'email'`, say), `{}` outside a session request.
create function payfold.jwt_claims() returns jsonb language sql stable as $$
  select coalesce(nullif(current_setting('request.jwt.claims', true), '')::jsonb, '{}'::jsonb)
$$;

-- A hash of the request: the same idempotency key with another body is refused.
alter table payments.checkout_sessions add column request_fingerprint text;
create unique index checkout_sessions_idempotency_key
  on payments.checkout_sessions (environment, idempotency_key) where idempotency_key is not null;

alter table payments.customer_portal_sessions add column portal_session_id text;

-- The Billing Portal configuration Payfold created when the account had none (Stripe refuses
-- portal sessions without one), so that status can say so.
alter table payfold.stripe_connections add column portal_configuration_id text;

-- A session request's first write, in one statement (and so one transaction): its row inserted
-- as the caller, so that the caller's policies decide (an RLS refusal raises 42501), then its log
-- entry appended as Payfold. Answers:
--   `begun`    the row and the entry are written (or, with check_only, the row would have been);
--   `existing` the idempotency key is taken by a request the caller can see (its id, fingerprint);
--   `hidden`   the idempotency key is taken by a request the caller cannot see.
-- The row's `created_at` is the transaction's time to the millisecond, as the projection reads the
-- entry's `recorded_at` back, so that projecting the entry later changes nothing.
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
  entry_data json
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
  insert into payfold.events (environment, type, version, dedupe_key, stream, data)
  values (entry_environment, entry_type, entry_version, entry_dedupe_key, entry_stream, entry_data)
  on conflict (dedupe_key) do nothing;
  return query select 'begun', null::text, null::text;
end
$$;
