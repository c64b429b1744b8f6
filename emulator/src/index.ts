/**
 * A local Stripe for tests, development and the demo (see the README's emulator section). A
 * program beside Payfold: it imports nothing of Payfold, and Payfold reaches it only as "Stripe",
 * through the `stripe` package pointed at its URL.
 */
export { emulatorTestHelpers } from './client.js';
export { type DemoStep, type DemoStory, runDemoStory } from './demo-story.js';
export { deliveryPlanner, type Faults } from './faults.js';
export { type EmulatorOptions, type RunningEmulator, startEmulator } from './server.js';
export type { ObjectType, StoredObjects } from './store.js';
