-- Session policies: a user may bill themself (subject user:<their id>) and the teams they belong to.
-- Run after Payfold's migrations, which create the roles anon and authenticated and turn row-level
-- security on for the session tables (so that, without policies like these, every request is refused).
create table public.team_members (team_id text not null, user_id text not null, primary key (team_id, user_id));
grant select on public.team_members to authenticated;

create function public.may_bill(subject_type text, subject_id text) returns boolean
language sql stable as $$
  select (subject_type = 'user' and subject_id = payfold.current_user_id())
      or (subject_type = 'team' and exists (
            select 1 from public.team_members m
            where m.team_id = subject_id and m.user_id = payfold.current_user_id()))
$$;

-- Who may start a checkout for a subject, and see its sessions.
create policy bill_own_subjects on payments.checkout_sessions for insert to authenticated
  with check (public.may_bill(subject_type, subject_id));
create policy see_own_subjects on payments.checkout_sessions for select to authenticated
  using (public.may_bill(subject_type, subject_id));
-- Who may open the Billing Portal for a subject.
create policy open_own_portal on payments.customer_portal_sessions for insert to authenticated
  with check (public.may_bill(subject_type, subject_id));
