import type { Projector } from './projector.js';
import { webhookEventsProjector } from './webhook-events.js';

/** Every projection `payfold serve` keeps up to date, in no particular order. */
export const projectors: readonly Projector[] = [webhookEventsProjector];
