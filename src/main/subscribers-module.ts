import { existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { defineSubscriber, type Subscriber } from '../subscribers/index.js';

/** The module's own code, as Node gives it (ESM, or CommonJS under `default`) or jiti does. */
type LoadedModule = { subscribers?: unknown; default?: unknown };

/**
 * JavaScript of any kind (`.js` of either package type, `.mjs`, `.cjs`) is loaded by Node itself;
 * TypeScript (`.ts`, `.mts`, `.cts`) by jiti, which compiles it in memory, so the app needs no
 * build step and no loader of its own.
 */
const importAppModule = async (file: string): Promise<LoadedModule> => {
  if (!/\.[cm]?ts$/.test(file)) return import(pathToFileURL(file).href);
  const { createJiti } = await import('jiti');
  return createJiti(import.meta.url).import<LoadedModule>(file);
};

/**
 * `payfold serve --subscribers <module>`: the subscribers a module of the app's exports, as
 * `subscribers` (an array) or its default export (`module.exports = { subscribers }` in CommonJS).
 */
export const loadSubscribers = async (modulePath: string): Promise<Subscriber[]> => {
  const file = path.resolve(modulePath);
  if (!existsSync(file)) throw new Error(`--subscribers: ${modulePath} does not exist`);
  let loaded: LoadedModule;
  try {
    loaded = await importAppModule(file);
  } catch (error) {
    throw new Error(
      `--subscribers: ${modulePath} could not be loaded: ${(error as Error).message.split('\n')[0]}`,
    );
  }
  const fromDefault = loaded.default as LoadedModule | undefined;
  const found = loaded.subscribers ?? fromDefault?.subscribers ?? fromDefault;
  if (!Array.isArray(found) || found.length === 0) {
    throw new Error(
      `--subscribers: ${modulePath} exports no subscribers: export them as \`export const subscribers = [defineSubscriber({…})]\` (or \`module.exports = { subscribers }\`), defineSubscriber from payfold/subscribers`,
    );
  }
  return found.map((subscriber) => defineSubscriber(subscriber as Subscriber));
};
