import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type Daemon } from '../helpers/daemon.js';
import { tempDir } from '../helpers/stores.js';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = join(import.meta.dirname, '../../test-artifacts');
const available = existsSync(CHROMIUM);
if (!available && process.env['KERNO_REQUIRE_SERVICES'] === '1') {
  throw new Error(
    `${CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium) to run the dashboard test`,
  );
}
if (!available) console.warn(`skipping the dashboard browser test: ${CHROMIUM} is not installed`);

describe.runIf(available)('dashboard in headless Chromium', () => {
  let daemon: Daemon;
  let browser: Browser;
  let cleanup: () => void;

  beforeAll(async () => {
    const t = tempDir('kerno-browser-');
    cleanup = t.cleanup;
    daemon = await startDaemon(['--demo', '--home', t.dir], { KERNO_DEMO_PACE: '0.3' });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--no-first-run',
        '--disable-sync',
      ],
    });
    mkdirSync(ARTIFACTS, { recursive: true });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    const code = await daemon?.stop();
    expect(code).toBe(0);
    expect(daemon.output()).toContain('kerno stopped cleanly');
    cleanup?.();
  });

  it('shows live events, agents and the chain; approving a gate in the UI resumes the agent', async () => {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(daemon.dashboard);

    // events arrive over SSE
    await page.waitForFunction(
      () => document.querySelectorAll('#timeline li').length >= 5,
      undefined,
      { timeout: 20_000 },
    );
    await expect.poll(() => page.textContent('#conn')).toBe('live');
    // agents with status and restart counts
    await page.waitForSelector('#agents tr[data-agent="ticker"] .status.running');
    // the audit chain verifies
    await page.waitForSelector('#chain .ok', { timeout: 20_000 });
    expect(await page.textContent('#chain')).toMatch(/verified up to seq \d+/);
    // learned patterns and a ledger query
    await page.waitForSelector('#patterns tr td');
    await page.click('#ledger-form button');
    // Full-page shots from the top, so the sticky header sits where a reader expects it.
    const shot = async (name: string): Promise<void> => {
      await page.evaluate(() => window.scrollTo(0, 0));
      await page.screenshot({ path: join(ARTIFACTS, name), fullPage: true });
    };
    await shot('dashboard-live.png');

    // the release manager waits for a human: approve it in the UI
    const card = page.locator('[data-approval]', {
      hasText: 'Deploy release 1.4.2 to production?',
    });
    await card.waitFor({ timeout: 20_000 });
    await card.locator('button.approve').click();
    // the agent resumes: its "deployed" output arrives, and the gate leaves the list
    await page.waitForSelector('#timeline li:has-text("deployed release 1.4.2 to production")', {
      timeout: 20_000,
    });
    await expect.poll(() => card.count(), { timeout: 10_000 }).toBe(0);
    await shot('dashboard-approved.png');

    // the escalated agent waits too: approve it and see it resume
    const escalated = page.locator('[data-approval]', { hasText: 'payments-sync' });
    await escalated.waitFor({ timeout: 20_000 });
    await escalated.locator('button.approve').click();
    await page.waitForSelector('#timeline li:has-text("payments sync resumed")', {
      timeout: 20_000,
    });
    // the agents panel follows: running again, with its restart counted
    await page.waitForSelector('#agents tr[data-agent="payments-sync"] .status.running', {
      timeout: 10_000,
    });
    await shot('dashboard-escalation-approved.png');
    expect(errors).toEqual([]);
  }, 120_000);
});
