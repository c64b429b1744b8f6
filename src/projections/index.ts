import { paymentsProjector } from './payments-projector.js';
import type { Projector } from './projector.js';
import { webhookEventsProjector } from './webhook-events.js';

/** Every projection `payfold serve` keeps up to date, each on its own checkpoint. */
export const projectors: readonly Projector[] = [webhookEventsProjector, paymentsProjector];
