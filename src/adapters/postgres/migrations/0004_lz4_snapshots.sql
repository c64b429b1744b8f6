-- Stripe payloads (2-5 KB of JSON) are compressed by Postgres when stored. lz4 compresses them
-- about twice as fast as the default pglz, which shows in every append and in every winner a
-- projection writes. Servers built without lz4 keep pglz; nothing else depends on the method.
do $$
begin
  alter table payfold.events alter column data set compression lz4;
  alter table payments.stripe_objects alter column snapshot set compression lz4;
  alter table payfold.stripe_object_candidates alter column snapshot set compression lz4;
exception when feature_not_supported or invalid_parameter_value then
  raise notice 'lz4 is not available on this server: payloads stay compressed with pglz';
end
$$;
