-- Fulfillment with a trigger: keep one entitlement row per team from payments.subscriptions.
-- Payfold writes a subscription row only when one of its columns really changes, so this trigger
-- runs once per real change, never for a redelivered webhook, a replay or a rebuild. It is
-- idempotent all the same: running it twice for the same row writes nothing the second time.
create table public.team_entitlements (
  team_id text primary key,
  subscription_id text not null,
  active boolean not null,
  current_period_end timestamptz,
  updated_at timestamptz not null default now()
);

create function public.sync_team_entitlement() returns trigger
language plpgsql as $$
begin
  -- The subject comes from Stripe metadata, or from the customer mapping once the Checkout
  -- Session that names the team arrives (even if invoice.paid came first).
  if new.subject_type is distinct from 'team' or new.subject_id is null then
    return null;
  end if;
  insert into public.team_entitlements as e (team_id, subscription_id, active, current_period_end)
  values (new.subject_id, new.subscription_id, new.status in ('active', 'trialing', 'past_due'), new.current_period_end)
  on conflict (team_id) do update
    set subscription_id = excluded.subscription_id,
        active = excluded.active,
        current_period_end = excluded.current_period_end,
        updated_at = now()
    where (e.subscription_id, e.active, e.current_period_end)
      is distinct from (excluded.subscription_id, excluded.active, excluded.current_period_end);
  return null;
end
$$;

create trigger sync_team_entitlement
  after insert or update on payments.subscriptions
  for each row execute function public.sync_team_entitlement();
