import { afterAll } from 'vitest';
import { stopStartedProcesses } from './processes.js';

// Runs after each test file's own hooks: whatever a test left running stops with its file.
afterAll(stopStartedProcesses);
