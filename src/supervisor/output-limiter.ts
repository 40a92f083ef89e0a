/**
 * Agent output before it becomes `AgentOutput` events (and audit entries): rate-limited and
 * coalesced per agent, so one chatty agent cannot flood the durable writer that every caller
 * shares.
 *
 * - **Bytes per line**: a line longer than `maxLineBytes` is cut (counted as truncated).
 * - **Bytes per second**: a token bucket (`bytesPerSecond`, holding up to `burstBytes`) refilled
 *   from the injected clock; a line that does not fit is dropped and counted.
 * - **Coalescing**: lines admitted in the same tick go out as one event (joined by `\n`, up to
 *   `maxEventBytes`), so 60k lines in a burst are a handful of appends, not 60k.
 * - **Notice**: after drops or cuts, the next admitted output (or {@link OutputLimiter.close})
 *   first reports them once through `onTruncated` (the supervisor publishes `OutputTruncated`).
 *
 * Sizes are UTF-16 code units (the string length), which bound bytes within a factor of 3.
 *
 * @module
 */
import type { Clock } from '../util/clock.js';

/** Limits on one agent's output. */
export interface OutputLimits {
  /** Sustained rate (default 256 KiB/s). */
  readonly bytesPerSecond?: number;
  /** Burst allowance, the bucket's size (default 1 MiB). */
  readonly burstBytes?: number;
  /** Longest line kept whole (default 16 KiB); longer ones are cut. */
  readonly maxLineBytes?: number;
  /** Most text in one coalesced event (default 64 KiB). */
  readonly maxEventBytes?: number;
}

/** What was lost since the last notice. */
export interface OutputLoss {
  readonly droppedLines: number;
  readonly droppedBytes: number;
  readonly truncatedLines: number;
}

/** Per-agent output gate: `write` lines in, coalesced text out through `emit`. */
export interface OutputLimiter {
  write(line: string): void;
  /** Emits what is coalesced and reports outstanding losses (agent stopped). */
  close(): void;
  /**
   * How long until the bucket holds a line's worth again (ms; 0 when it does): a reader that
   * can pause (a process agent's pipe) waits that long instead of having lines dropped.
   */
  waitMs(): number;
}

const DEFAULTS = {
  bytesPerSecond: 256 * 1024,
  burstBytes: 1024 * 1024,
  maxLineBytes: 16 * 1024,
  maxEventBytes: 64 * 1024,
};

/** Creates a limiter for one agent. */
export function createOutputLimiter(options: {
  readonly clock: Clock;
  readonly limits?: OutputLimits | undefined;
  readonly emit: (text: string) => void;
  readonly onTruncated: (loss: OutputLoss) => void;
  /** Schedules the coalesced flush (default: a microtask, i.e. the end of the tick). */
  readonly defer?: (fn: () => void) => void;
}): OutputLimiter {
  const limits = { ...DEFAULTS, ...options.limits };
  const defer = options.defer ?? queueMicrotask;
  let tokens = limits.burstBytes;
  let refilledAt = options.clock.now();
  let pending: string[] = [];
  let pendingBytes = 0;
  let scheduled = false;
  let droppedLines = 0;
  let droppedBytes = 0;
  let truncatedLines = 0;

  const refill = (): void => {
    const now = options.clock.now();
    if (now > refilledAt) {
      tokens = Math.min(
        limits.burstBytes,
        tokens + ((now - refilledAt) * limits.bytesPerSecond) / 1000,
      );
    }
    refilledAt = now;
  };
  const report = (): void => {
    if (droppedLines === 0 && truncatedLines === 0) return;
    const loss = { droppedLines, droppedBytes, truncatedLines };
    droppedLines = 0;
    droppedBytes = 0;
    truncatedLines = 0;
    options.onTruncated(loss);
  };
  const flush = (): void => {
    scheduled = false;
    if (pending.length === 0) return;
    const text = pending.join('\n');
    pending = [];
    pendingBytes = 0;
    options.emit(text);
  };

  return {
    write(line) {
      let text = line;
      if (text.length > limits.maxLineBytes) {
        text = text.slice(0, limits.maxLineBytes);
        truncatedLines++;
      }
      refill();
      if (text.length > tokens) {
        droppedLines++;
        droppedBytes += line.length;
        return;
      }
      tokens -= text.length;
      if (droppedLines > 0 || truncatedLines > 0) {
        flush();
        report();
      }
      if (pendingBytes + text.length > limits.maxEventBytes) flush();
      pending.push(text);
      pendingBytes += text.length + 1;
      if (!scheduled) {
        scheduled = true;
        defer(flush);
      }
    },
    close() {
      flush();
      report();
    },
    waitMs() {
      refill();
      const want = Math.min(limits.maxLineBytes, limits.burstBytes);
      return tokens >= want ? 0 : Math.ceil(((want - tokens) * 1000) / limits.bytesPerSecond);
    },
  };
}
