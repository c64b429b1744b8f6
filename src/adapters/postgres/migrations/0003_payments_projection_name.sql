-- The projection that writes every payments.* table from Stripe events is called `payments`; it was
-- first named after one of its tables. Its checkpoint and parked entries keep their place.
update payfold.projection_checkpoints set projection = 'payments' where projection = 'stripe_objects';
update payfold.projection_errors set projection = 'payments' where projection = 'stripe_objects';
