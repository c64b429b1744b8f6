-- What the dashboard's admin routes read (README "Dashboard").

-- Stripe redelivers an event it did not see acknowledged; the log keeps one entry per event, so
-- the door counts the redeliveries here (a count to show, never an input of the projections).
create table payfold.webhook_redeliveries (
  environment text not null check (environment in ('test', 'live')),
  event_id text not null,
  redeliveries integer not null,
  last_redelivered_at timestamptz not null,
  primary key (environment, event_id)
);

-- Recent deliveries and events per minute of the last day, without scanning every event.
create index webhook_events_received on payments.webhook_events (environment, received_at desc);
