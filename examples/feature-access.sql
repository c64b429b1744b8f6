-- Feature access from Stripe Entitlements: attach features to products in Stripe, and Payfold keeps
-- payments.entitlements (one row per customer and feature lookup key, with the subject). The app
-- asks that table and never maps prices to features itself. Run after Payfold's migrations and
-- examples/session-policies.sql (which defines public.team_members).

-- Whether a subject may use a feature now. Security definer so that policies can ask without
-- their callers reading payments.entitlements; its search path pinned, callable only by them.
create function public.may_use(subject_type text, subject_id text, feature text) returns boolean
language sql stable security definer set search_path = '' as $$
  select exists (
    select 1 from payments.entitlements e
    where e.environment = 'live' and e.subject_type = may_use.subject_type
      and e.subject_id = may_use.subject_id and e.lookup_key = may_use.feature)
$$;
revoke execute on function public.may_use(text, text, text) from public;
grant execute on function public.may_use(text, text, text) to authenticated;

-- A team's reports: its members read them while the team may use the feature `reports`.
create table public.team_reports (team_id text not null, title text not null);
alter table public.team_reports enable row level security;
grant select on public.team_reports to authenticated;
create policy reports_of_entitled_teams on public.team_reports for select to authenticated
  using (
    public.may_use('team', team_id, 'reports')
    and exists (
      select 1 from public.team_members m
      where m.team_id = team_reports.team_id and m.user_id = payfold.current_user_id()));

-- What must happen once when a feature comes or goes (a welcome mail, a quota): a trigger. Payfold
-- writes an entitlement row only when it really changes, so this runs once per grant and per
-- revocation, never for a redelivered webhook, a replay or a rebuild. A row's subject can arrive
-- after the row (the Checkout Session that names the team comes later): that is a grant too.
create table public.feature_changes (
  subject_type text not null,
  subject_id text not null,
  feature text not null,
  change text not null check (change in ('granted', 'revoked')),
  at timestamptz not null default now()
);

create function public.note_feature_change() returns trigger
language plpgsql as $$
begin
  if tg_op in ('UPDATE', 'DELETE') and old.subject_id is not null
     and (tg_op = 'DELETE' or (old.subject_type, old.subject_id) is distinct from (new.subject_type, new.subject_id)) then
    insert into public.feature_changes (subject_type, subject_id, feature, change)
    values (old.subject_type, old.subject_id, old.lookup_key, 'revoked');
  end if;
  if tg_op in ('INSERT', 'UPDATE') and new.subject_id is not null
     and (tg_op = 'INSERT' or (old.subject_type, old.subject_id) is distinct from (new.subject_type, new.subject_id)) then
    insert into public.feature_changes (subject_type, subject_id, feature, change)
    values (new.subject_type, new.subject_id, new.lookup_key, 'granted');
  end if;
  return null;
end
$$;

create trigger note_feature_change
  after insert or update or delete on payments.entitlements
  for each row execute function public.note_feature_change();
