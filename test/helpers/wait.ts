/**
 * Waiting for a condition instead of for time: a test that sleeps "long enough" is slow when
 * the machine is idle and flaky when it is busy. `waitFor` checks the condition on every turn of
 * the event loop (and then every few ms) until it holds, and fails with `what` at the deadline.
 */
import { setTimeout as delay } from 'node:timers/promises';

export async function waitFor<T>(
  check: () => T | undefined | false | Promise<T | undefined | false>,
  what: string,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (let round = 0; ; round++) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    // the first rounds yield to pending I/O only; after that, poll gently
    await (round < 20 ? new Promise((r) => setImmediate(r)) : delay(10));
  }
}
