/**
 * `payfold/subscribers`: TypeScript code of an app's that reacts to every real change of the
 * `payments.*` tables (README "Subscribers"), delivered from the change stream with a checkpoint
 * of its own. Not a projection: it reads what the projections wrote.
 */
export {
  type ChangeStream,
  changeStream,
  changeStreamIsOn,
  pruneRowChanges,
  requireChangeStreamFor,
  switchChangeStream,
} from './change-stream.js';
export { type ReplayFrom, replaySubscriber } from './replay.js';
export { SubscriberRunner, type SubscriberRunnerOptions } from './runner.js';
export { type SubscriberStatus, subscriberStatuses } from './status.js';
export { type ChangeOperation, defineSubscriber, type RowChange, type Subscriber } from './subscriber.js';
