import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

/**
 * Debian's Chromium, not a browser downloaded by Playwright: CI installs it with apt (see `.ci/run`) and
 * no test reaches out to a CDN for a browser build.
 */
export const CHROMIUM_PATH = '/usr/bin/chromium';

/**
 * Flags for a headless Chromium that runs as root in a container and talks to nothing but the page
 * under test: no sandbox (root), no GPU, no background traffic to Google that could slow or flake a run.
 * Playwright gives every launch a fresh temporary profile of its own.
 */
const CHROMIUM_ARGS = [
  '--headless=new',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(
      `Chromium is not installed at ${CHROMIUM_PATH}; the browser tests need it. ` +
        `Install Debian's package as root: apt-get update && apt-get install -y chromium ` +
        `(.ci/run does this on CI). Do not use "npx playwright install".`,
    );
  }
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS, timeout: 30_000 });
}
