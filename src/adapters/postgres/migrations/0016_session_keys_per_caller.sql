-- Idempotency keys of session requests name one attempt of one caller for 24 hours, as Stripe's do
-- (README "Sessions for your app"). The key was unique per environment across every caller: a
-- user who took another team's key first made that team's requests 409s, the 409 told the caller
-- someone else had used the key, and a key outlived its session, so a team whose session expired
-- could never check out again with the same key.

-- Who asked: the token's `sub` (null for a session created outside Payfold). Apps may use it in
-- their policies too. Filled from each request's snapshot, as the projection fills it.
alter table payments.checkout_sessions add column requested_by text;
update payments.checkout_sessions c
set requested_by = o.snapshot ->> 'requested_by'
from payments.stripe_objects o
where o.environment = c.environment and o.object_type = 'payfold.checkout_request'
  and o.object_id = c.id::text and o.snapshot ->> 'requested_by' is not null;

-- Several attempts may share a key over time (a retry after expiry starts a new one), so the key
-- is no longer unique: begin_session_request decides, under a lock per caller and key.
drop index payments.checkout_sessions_idempotency_key;
create index checkout_sessions_attempts on payments.checkout_sessions
  (environment, requested_by, idempotency_key, created_at desc) where idempotency_key is not null;

-- Its first write takes the superseded attempt as a new argument (functions/session-requests.sql).
drop function payfold.begin_session_request(text, text, regclass, jsonb, text, boolean, text, text, smallint, text, text, json, boolean);
