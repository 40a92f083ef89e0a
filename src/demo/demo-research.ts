/**
 * The demo's durable multi-step agent: a "research" run of a dozen steps with simulated model
 * calls (a deterministic fake LLM: the same prompt always gives the same text and token count),
 * token and cost figures recorded to the experience ledger under tenant `demo`, a durable
 * `ctx.sleep` and a `ctx.requestApproval`. Kill the daemon (`kill -9`) while it works and start
 * it again: the run resumes at its next step; the finished ones replay from the journal.
 *
 * One source times out once per run (a flaky step): self-healing retries it by resuming the run.
 *
 * Every step the agent *executes* (not replays) is appended to a trace file (default
 * `<state>/demo-research.log`, one `<run id> <step key>` line each), so you can see for yourself
 * that a replayed step was not done again.
 *
 * @module
 */
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { errorMessage } from '../errors.js';
import type { Kernel } from '../kernel.js';
import type { RunContext, StepScope } from '../runs/run-context.js';
import type { RunStatus } from '../runs/journal.js';
import { sleep } from '../util/clock.js';

/** The durable agent's name. */
export const RESEARCH_AGENT = 'research';

/** Price of the fake model: 2 microdollars a token ($2 per million). */
const MICRODOLLARS_PER_TOKEN = 2;

const UNFINISHED: readonly RunStatus[] = ['pending', 'running', 'sleeping', 'waiting'];

/** The fake model's answer to a prompt: deterministic text and token count. */
export function fakeCompletion(prompt: string): { text: string; tokens: number } {
  const digest = createHash('sha256').update(prompt).digest();
  const tokens = 180 + (digest.readUInt16BE(0) % 420);
  const words = ['evidence', 'trend', 'risk', 'cost', 'adoption', 'latency', 'trust', 'scale'];
  const picked = [0, 1, 2].map((i) => words[digest[2 + i]! % words.length]!);
  return { text: `key points: ${picked.join(', ')} (${tokens} tokens)`, tokens };
}

/** Options of {@link startResearch}. */
export interface ResearchOptions {
  /** Multiplies every pause (default 1). */
  readonly pace: number;
  /** Where executed steps are traced (default `<state>/demo-research.log`; `null`: nowhere). */
  readonly traceFile?: string | null;
  /** Pause before the next research run once one completed (default 30 s × pace). */
  readonly nextAfterMs?: number;
}

/** Defines the research agent and keeps one research run going. Returns the stopper. */
export function startResearch(kernel: Kernel, options: ResearchOptions): () => void {
  const pace = options.pace;
  const traceFile =
    options.traceFile === undefined
      ? join(kernel.stateDir, 'demo-research.log')
      : options.traceFile;
  const trace = (runId: string, key: string): void => {
    if (traceFile === null) return;
    try {
      appendFileSync(traceFile, `${runId} ${key}\n`);
    } catch (error) {
      kernel.logger.warn('The demo could not write its research trace', {
        error: errorMessage(error),
      });
    }
  };

  /** Runs whose flaky source already timed out once (in this process). */
  const timedOut = new Set<string>();

  /** One simulated model call as a step: its tokens and cost are the step's usage (tenant demo). */
  const llm = (ctx: RunContext, key: string, prompt: string, flakyOnce = false) =>
    ctx.step(
      key,
      async (scope: StepScope) => {
        trace(ctx.runId, key);
        await sleep(kernel.clock, 1500 * pace, scope.signal);
        if (flakyOnce && !timedOut.has(ctx.runId)) {
          // A flaky source: self-healing retries the step (the run resumes, earlier steps replay).
          timedOut.add(ctx.runId);
          throw Object.assign(new Error(`${key}: upstream timed out (HTTP 504)`), { flaky: true });
        }
        const { text, tokens } = fakeCompletion(prompt);
        const cost = tokens * MICRODOLLARS_PER_TOKEN;
        return { text, tokens, cost_microdollars: cost };
      },
      {
        key,
        // Recorded once, by the kernel: an OutcomeRecorded ledger event under the run's tenant
        // (budgets count it) and the run view's tokens and cost per step and per run.
        usage: (r: { tokens: number; cost_microdollars: number }) => ({
          tokens: r.tokens,
          costMicrodollars: r.cost_microdollars,
        }),
      },
    );

  /** A step without a model call. */
  const tool = <T>(ctx: RunContext, key: string, fn: () => T) =>
    ctx.step(
      key,
      async (scope: StepScope) => {
        trace(ctx.runId, key);
        await sleep(kernel.clock, 800 * pace, scope.signal);
        return fn();
      },
      { key },
    );

  kernel.define<{ topic: string }, unknown>({
    name: RESEARCH_AGENT,
    version: '1',
    recovery: true,
    run: async (ctx, input) => {
      const topic = input.topic;
      const plan = await llm(ctx, 'plan', `plan research on ${topic}`);
      const queries = ['market size', 'vendors', 'open problems'];
      const sources: string[] = [];
      for (const q of queries) {
        const found = await tool(ctx, `search:${q}`, () => [`${q.replace(/ /g, '-')}.example`]);
        sources.push(...found);
      }
      const notes: string[] = [];
      for (const source of sources) {
        const flaky = source === 'vendors.example';
        notes.push(
          (await llm(ctx, `read:${source}`, `summarise ${source} for ${topic}`, flaky)).text,
        );
      }
      const synthesis = await llm(ctx, 'synthesise', `${plan.text}\n${notes.join('\n')}`);
      const draft = await llm(ctx, 'draft', `write a brief on ${topic}: ${synthesis.text}`);
      const critique = await llm(ctx, 'critique', `critique: ${draft.text}`);
      // Reviewers get a moment; durable: a restart during it wakes the run at the same time.
      await ctx.sleep(5000 * pace);
      const decision = await ctx.requestApproval({
        summary: `Publish the research brief on "${topic}"?`,
        rationale: `${notes.length} sources read; critique: ${critique.text}`,
        action: 'publish',
        resource: 'research brief',
      });
      const final = await llm(
        ctx,
        'finalise',
        decision.approved ? `final brief on ${topic}` : `archive note on ${topic}`,
      );
      return tool(ctx, decision.approved ? 'publish' : 'archive', () => ({
        topic,
        published: decision.approved,
        sources: sources.length,
        words: final.tokens,
      }));
    },
  });

  let stopped = false;
  let timer: ReturnType<Kernel['clock']['setTimeout']> | undefined;
  const startOne = (): void => {
    if (stopped) return;
    const busy = kernel.runs.list({ agent: RESEARCH_AGENT, status: UNFINISHED, limit: 1 });
    if (busy.length > 0) return;
    kernel
      .start(
        RESEARCH_AGENT,
        { topic: 'durable AI agents' },
        { id: `research-${kernel.ids()}`, tenant: 'demo' },
      )
      .catch((error: unknown) =>
        kernel.logger.warn('The demo could not start a research run', {
          error: errorMessage(error),
        }),
      );
  };
  const off = kernel.runs.onStatus((run) => {
    if (run.agent !== RESEARCH_AGENT || UNFINISHED.includes(run.status) || stopped) return;
    if (timer !== undefined) kernel.clock.clearTimeout(timer);
    timer = kernel.clock.setTimeout(startOne, options.nextAfterMs ?? 30_000 * pace);
  });
  // An unfinished run from before a restart resumes by itself (define above); else start one.
  startOne();
  return () => {
    stopped = true;
    off();
    if (timer !== undefined) kernel.clock.clearTimeout(timer);
  };
}
