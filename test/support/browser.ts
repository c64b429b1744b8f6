import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';

const chromiumPath = '/usr/bin/chromium';

const run = (command: string, args: string[]): Promise<boolean> =>
  new Promise((resolve) => {
    const child = spawn(command, args, {
      stdio: 'ignore',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
    child.on('error', () => resolve(false));
    child.on('close', (code) => resolve(code === 0));
  });

/**
 * Debian's Chromium, installed with apt-get when missing (as root). Where it cannot be, the reason
 * in one line: the browser tests are then skipped with it.
 */
export const findChromium = async (): Promise<{ path: string } | { skip: string }> => {
  if (existsSync(chromiumPath)) return { path: chromiumPath };
  if (process.getuid?.() !== 0 || !existsSync('/usr/bin/apt-get')) {
    return { skip: `no ${chromiumPath}, and apt-get cannot install it here (not root, or not Debian)` };
  }
  const installed =
    (await run('apt-get', ['install', '-y', '--no-install-recommends', 'chromium'])) ||
    ((await run('apt-get', ['update'])) &&
      (await run('apt-get', ['install', '-y', '--no-install-recommends', 'chromium'])));
  return installed && existsSync(chromiumPath)
    ? { path: chromiumPath }
    : { skip: 'apt-get install chromium failed (no package mirror reachable?)' };
};

/** Headless Chromium as the machine allows it: as root without its sandbox, with no background traffic. */
export const launchChromium = (executablePath: string): Promise<Browser> =>
  chromium.launch({
    executablePath,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });

export const artifactsDirectory = path.resolve(import.meta.dirname, '../artifacts');

/** A screenshot of the whole page under `test/artifacts/` (written when a browser test fails). */
export const screenshot = async (page: Page, name: string): Promise<string> => {
  await mkdir(artifactsDirectory, { recursive: true });
  const file = path.join(artifactsDirectory, `${name.replace(/[^a-z0-9-]+/gi, '-')}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
};
