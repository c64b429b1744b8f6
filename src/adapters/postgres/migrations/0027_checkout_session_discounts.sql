-- The coupons and promotion codes applied at Checkout, and what they took off (README "Tables").
alter table payments.checkout_sessions add column discounts jsonb not null default '[]';
alter table payments.checkout_sessions add column amount_discount bigint;
