import type { Projector } from './engine/index.js';
import { paymentsProjector } from './payments/index.js';
import { webhookEventsProjector } from './webhook-deliveries/index.js';

/** Every projection `payfold serve` keeps up to date, each on its own checkpoint. */
export const projectors: readonly Projector[] = [webhookEventsProjector, paymentsProjector];
