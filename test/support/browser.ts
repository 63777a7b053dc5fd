import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';

/**
 * Debian's Chromium driven by playwright-core (downloaded browsers do not run here). Without
 * /usr/bin/chromium the browser tests skip with one line, except under CI=true, where `.ci/run`
 * installs it and the tests must run.
 */
export const chromiumPath = '/usr/bin/chromium';

export function browserAvailable(): boolean {
  if (existsSync(chromiumPath)) return true;
  if (process.env.CI === 'true')
    throw new Error(`${chromiumPath} is missing; .ci/run installs Debian's chromium.`);
  console.warn(`${chromiumPath} not found: skipping the browser tests (apt-get install -y chromium).`);
  return false;
}

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath,
    args: ['--headless', '--no-sandbox', '--disable-background-networking'],
  });
}

export const screenshotDir = path.resolve(import.meta.dirname, '../../test-results/screenshots');

/** Saves a full-page screenshot as a test artifact: test-results/screenshots/<name>.png. */
export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(screenshotDir, { recursive: true });
  await page.screenshot({ path: path.join(screenshotDir, `${name}.png`), fullPage: true });
}
