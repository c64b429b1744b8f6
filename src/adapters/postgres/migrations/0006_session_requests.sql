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
