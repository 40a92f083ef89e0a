/**
 * `kerno up --demo`: bundled example agents that show every part of the kernel working —
 * a flaky agent that heals itself, one that crashes until it escalates to a human, one that asks
 * for approval itself, an agent group, a process agent in another "language", ledger records and
 * learned patterns. Everything goes through the public kernel API.
 *
 * @module
 */
import { fileURLToPath } from 'node:url';
import { errorMessage } from '../errors.js';
import type { Kernel } from '../kernel.js';
import type { ExperienceEvent } from '../formats/converge-experience-event.js';
import { sleep } from '../util/clock.js';
import { formatChrono } from '../util/time.js';

/** An error that tells self-healing which stage failed (and whether it looked flaky). */
class StageError extends Error {
  constructor(
    readonly stage: string,
    message: string,
    readonly flaky = false,
  ) {
    super(message);
  }
}

/** Options for {@link startDemo}. */
export interface DemoOptions {
  /** Multiplies every pause (default 1; tests use less). */
  readonly pace?: number;
}

const SUMMARIZER = fileURLToPath(new URL('../../examples/agents/summarizer.mjs', import.meta.url));

/** Starts the demo agents on `kernel`. */
export async function startDemo(kernel: Kernel, options: DemoOptions = {}): Promise<void> {
  const pace = options.pace ?? 1;
  const wait = (ms: number, signal: AbortSignal): Promise<void> =>
    sleep(kernel.clock, ms * pace, signal);

  seedPatterns(kernel);

  // 1. A steady worker: output, and a ledger record now and then.
  await kernel.spawn({
    name: 'ticker',
    restart: 'permanent',
    description: 'emits a tick every two seconds and records an outcome every fifth',
    run: async (ctx) => {
      for (let tick = 1; !ctx.signal.aborted; tick++) {
        ctx.output(`tick ${tick}`);
        if (tick % 5 === 0) {
          await ctx.appendLedger(outcome(`ticker-${ctx.agentId}`, true, 12 * tick), {
            tenantId: 'demo',
          });
        }
        await wait(2000, ctx.signal);
      }
    },
  });

  // 2. Flaky tests: every fourth suite fails with a flaky timeout; self-healing retries it.
  let suites = 0;
  await kernel.spawn({
    name: 'flaky-tests',
    restart: 'permanent',
    description: 'runs a test suite every three seconds; every fourth run is flaky',
    run: async (ctx) => {
      for (;;) {
        suites++;
        ctx.output(`test suite #${suites}: running 128 tests`);
        await wait(1500, ctx.signal);
        if (suites % 4 === 0)
          throw new StageError(
            'test',
            `test failed: flaky network timeout in suite #${suites}`,
            true,
          );
        ctx.output(`test suite #${suites}: all green`);
        await wait(1500, ctx.signal);
      }
    },
  });

  // 3. A dependency that keeps failing: no safe automated fix, so it escalates to a human.
  let syncRuns = 0;
  await kernel.spawn({
    name: 'payments-sync',
    restart: 'transient',
    config: { endpoint: 'https://payments.example/v2' },
    description: 'syncs payments; its v2 endpoint is down until an operator steps in',
    run: async (ctx) => {
      syncRuns++;
      if (syncRuns === 1) {
        ctx.output(`connecting to ${String(ctx.config.endpoint)}`);
        await wait(800, ctx.signal);
        throw new StageError(
          'integration',
          'dependency unavailable: payments API v2 handshake timed out',
        );
      }
      ctx.output('payments sync resumed after operator approval');
      for (let batch = 1; !ctx.signal.aborted; batch++) {
        ctx.output(`synced payment batch ${batch}`);
        await wait(4000, ctx.signal);
      }
    },
  });

  // 4. An agent that asks a human before it acts.
  await kernel.spawn({
    name: 'release-manager',
    restart: 'transient',
    description: 'builds release 1.4.2 and deploys it once a human approves',
    run: async (ctx) => {
      ctx.output('release 1.4.2 built; 128/128 tests green; waiting for approval to deploy');
      const decision = await ctx.requestApproval({
        summary: 'Deploy release 1.4.2 to production?',
        rationale: 'All checks passed; the change touches the billing service.',
        action: 'deploy',
        resource: 'production',
        key: 'deploy-1.4.2',
        context: [
          { label: 'release', value: '1.4.2' },
          { label: 'tests', value: '128/128' },
        ],
      });
      if (!decision.approved) {
        ctx.output(`deployment cancelled: ${decision.reason ?? 'rejected'}`);
        return 'cancelled';
      }
      ctx.output('deployed release 1.4.2 to production');
      await ctx.appendLedger(
        {
          type: 'FactPromoted',
          data: {
            proposal_id: 'release-1.4.2',
            fact_id: 'deployed-1.4.2',
            promoted_by: 'release-manager',
            reason: 'approved by a human',
            requires_human: true,
          },
        },
        { tenantId: 'demo' },
      );
      return 'deployed';
    },
  });

  // 5. A process agent (any language speaking JSON lines): here a Node script.
  await kernel.spawn({
    name: 'summarizer',
    command: process.execPath,
    args: [SUMMARIZER],
    config: { topic: 'Q3 incident review' },
    restart: 'transient',
  });

  // 6. An agent group: three researchers in parallel.
  void kernel.supervisor
    .group(
      ['market', 'competitors', 'pricing'].map((topic) => ({
        name: `researcher-${topic}`,
        run: async (ctx: { output(t: string): void; signal: AbortSignal }) => {
          ctx.output(`researching ${topic}`);
          await wait(1000 + topic.length * 100, ctx.signal);
          const id = `research:${topic}`;
          kernel.learning.savePattern({
            id,
            strategy: `For ${topic} questions, start from primary sources and cross-check two of them`,
            embedding_weights: {},
            success_rate: 0.8,
            use_count: 1,
            domain: 'research',
            quality: 0.7,
            is_long_term: false,
            last_used: formatChrono(kernel.clock.now()),
          });
          kernel.bus.publish({
            type: 'MemoryStored',
            id,
            memoryType: 'pattern',
            source: `researcher-${topic}`,
          });
          ctx.output(`${topic}: 3 findings stored`);
          return { topic, findings: 3 };
        },
      })),
    )
    .catch((error: unknown) =>
      kernel.logger.warn('The demo research group failed', { error: errorMessage(error) }),
    );
}

function outcome(chain: string, passed: boolean, latency: number): ExperienceEvent {
  return {
    type: 'OutcomeRecorded',
    data: {
      chain_id: chain,
      step: 'Evaluation',
      passed,
      stop_reason: null,
      latency_ms: latency,
      tokens: 64,
      cost_microdollars: 3,
      backend: 'demo',
    },
  };
}

function seedPatterns(kernel: Kernel): void {
  if (kernel.learning.stats().patternCount > 0) return;
  const now = formatChrono(kernel.clock.now());
  const seeds = [
    ['retry-flaky', 'Retry a flaky test once before patching code', 'ci', 0.92, 0.8],
    [
      'rollback-runtime',
      'Roll back to the last known-good config after a runtime panic',
      'runtime',
      0.85,
      0.9,
    ],
    [
      'ask-before-deploy',
      'Ask a human before deploying changes that touch billing',
      'release',
      0.97,
      0.95,
    ],
  ] as const;
  for (const [id, strategy, domain, success, quality] of seeds) {
    kernel.learning.savePattern({
      id: `seed:${id}`,
      strategy,
      embedding_weights: {},
      success_rate: success,
      use_count: 5,
      domain,
      quality,
      is_long_term: true,
      last_used: now,
    });
  }
}
