/**
 * `kerno up --demo`: bundled example agents that show every part of the kernel working, each
 * for as long as the demo runs — a flaky agent that heals itself (every time), one rolled back
 * to its last known-good config, one that escalates to a human, one that asks for approval
 * itself, an agent group, a process agent in another "language", a durable multi-step research
 * run (`demo-research.ts`), ledger records and learned patterns. Everything goes through the
 * public kernel API.
 *
 * @module
 */
import { fileURLToPath } from 'node:url';
import { errorMessage } from '../errors.js';
import type { Kernel } from '../kernel.js';
import { agentConfigKeys } from '../recovery/known-good.js';
import type { ExperienceEvent } from '../formats/converge-experience-event.js';
import { sleep } from '../util/clock.js';
import { formatChrono } from '../util/time.js';
import { startResearch } from './demo-research.js';

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
  /** Where the research agent traces the steps it executes (see `demo-research.ts`). */
  readonly researchTrace?: string | null;
}

/** The demo's agent names, as `kerno agents ls` shows them. */
export const DEMO_AGENTS = [
  'ticker',
  'flaky-tests',
  'pricing-service',
  'payments-sync',
  'release-manager',
  'summarizer',
  'researcher-market',
  'researcher-competitors',
  'researcher-pricing',
] as const;

const SUMMARIZER = fileURLToPath(new URL('../../examples/agents/summarizer.mjs', import.meta.url));

/** Starts the demo agents on `kernel`; resolves with the function that stops starting more. */
export async function startDemo(kernel: Kernel, options: DemoOptions = {}): Promise<() => void> {
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

  // 2. Flaky tests: every fourth suite fails with a flaky timeout; self-healing retries it, every
  // time (a retry that held — two green suites — restores the flaky budget for the next one).
  let suites = 0;
  await kernel.spawn({
    name: 'flaky-tests',
    restart: 'permanent',
    healthyAfterMs: 2500 * pace,
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

  // 3. A bad release: v1.4 of the pricing rules panics; self-healing rolls it back to the last
  // known-good config (v1.3, seeded on first start; kept up to date by every healthy run).
  if (
    (await kernel.registry.tryGetConfig(agentConfigKeys.knownGood('pricing-service'))) === undefined
  )
    await kernel.selfHealing.rememberKnownGood('pricing-service', { rules: 'v1.3' });
  await kernel.spawn({
    name: 'pricing-service',
    restart: 'permanent',
    healthyAfterMs: 3000 * pace,
    config: { rules: 'v1.4' },
    description: 'prices orders; release v1.4 of its rules panics and is rolled back to v1.3',
    run: async (ctx) => {
      const rules = String(ctx.config.rules);
      ctx.output(`pricing rules ${rules} loaded`);
      for (let batch = 1; ; batch++) {
        await wait(1500, ctx.signal);
        if (rules === 'v1.4')
          throw new StageError('runtime', 'panic: null pointer in discount rule (rules v1.4)');
        ctx.output(`priced order batch ${batch} with rules ${rules}`);
      }
    },
  });

  // 4. A dependency that keeps failing: no safe automated fix, so it escalates to a human.
  let syncRuns = 0;
  await kernel.spawn({
    name: 'payments-sync',
    restart: 'transient',
    config: { endpoint: 'https://payments.example/v2' },
    recovery: { allow_rollback: false },
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

  // 5. An agent that asks a human before it acts.
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

  // 6. A process agent (any language speaking JSON lines): here a Node script that summarises
  // one document after another.
  await kernel.spawn({
    name: 'summarizer',
    command: process.execPath,
    args: [SUMMARIZER],
    config: {
      topic: 'Q3 incident review',
      documents: ['Q3 incident review', 'on-call handbook', 'postmortem #42', 'SLO report'],
      stepMs: Math.round(600 * pace),
      everyMs: Math.round(5000 * pace),
    },
    restart: 'transient',
  });

  // 7. An agent group: three researchers in parallel, each on a new question every few seconds.
  void kernel.supervisor
    .group(
      ['market', 'competitors', 'pricing'].map((topic) => ({
        name: `researcher-${topic}`,
        run: async (ctx: { output(t: string): void; signal: AbortSignal }) => {
          for (let round = 1; !ctx.signal.aborted; round++) {
            ctx.output(`researching ${topic} (round ${round})`);
            await wait(2000 + topic.length * 200, ctx.signal);
            const id = `research:${topic}`;
            const prior = kernel.learning.getPattern(id);
            kernel.learning.savePattern({
              id,
              strategy: `For ${topic} questions, start from primary sources and cross-check two of them`,
              embedding_weights: {},
              success_rate: 0.8,
              use_count: (prior?.use_count ?? 0) + 1,
              domain: 'research',
              quality: 0.7,
              is_long_term: (prior?.use_count ?? 0) >= 2,
              last_used: formatChrono(kernel.clock.now()),
            });
            kernel.bus.publish({
              type: 'MemoryStored',
              id,
              memoryType: 'pattern',
              source: `researcher-${topic}`,
            });
            ctx.output(`${topic}: 3 findings stored (round ${round})`);
            await wait(4000, ctx.signal);
          }
          return { topic };
        },
      })),
    )
    .catch((error: unknown) =>
      kernel.logger.warn('The demo research group failed', { error: errorMessage(error) }),
    );

  // 8. A durable multi-step run: survives kill -9 of the daemon (see demo-research.ts).
  return startResearch(kernel, {
    pace,
    ...(options.researchTrace === undefined ? {} : { traceFile: options.researchTrace }),
  });
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
