-- Least privilege for functions (README "Least privilege"). Postgres lets every role (PUBLIC)
-- execute a new function, and anon and authenticated have USAGE on this schema (0006): so every
-- end user's role, and the serving role, could call the rebuild's security definer functions on a
-- table of their choosing (shadow an app table, write the shadow, apply it as the owner; empty
-- payfold.migrations; turn any table's triggers off with `quiet`). From here on:
-- - no function of schema payfold is executable by PUBLIC (the migrator revokes it again after
--   every migration and after applying src/adapters/postgres/functions: a per-schema
--   `alter default privileges … revoke … from public` is a no-op in Postgres, and a global one
--   would change the app's own functions in every schema);
-- - anon and authenticated may run what their policies call, and nothing else
--   (functions/session-requests.sql grants those two);
-- - the serving role gets an explicit list (functions/serving-role.sql);
-- - the rebuild's security definer functions act only on the projections' tables
--   (functions/rebuild.sql).
revoke all on all functions in schema payfold from public;
revoke all on all functions in schema payfold from anon, authenticated;

-- What apply_rebuilt_table calls to write the difference takes no `quiet` of its own any more: the
-- wrapper quiets the triggers.
drop function payfold.apply_rebuilt_difference(regclass, boolean);
