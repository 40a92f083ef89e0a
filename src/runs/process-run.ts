/**
 * Durable runs for process agents, with no SDK: a bridge that is the run function of a process
 * definition. It spawns the process, sends it `{"type":"run",...}`, and turns the JSON lines it
 * writes (`step`, `step.result`, `sleep`, `wait`, `result`, `error`) into `ctx` calls, answering
 * each on stdin (docs/agent-protocol.md, "Durable runs"). The journal does the rest: on a replay
 * the process asks for its steps again and gets their recorded results without running them.
 *
 * When the run suspends (a long sleep, a wait for a signal) or ends elsewhere (cancel, close),
 * `ctx.signal` aborts and the bridge stops the process (SIGTERM, then SIGKILL after a grace
 * period); the next execution starts it again from the top.
 *
 * @module
 */
import { spawn } from 'node:child_process';
import { z } from 'zod';
import { KernelError, errorMessage } from '../errors.js';
import { frameLines, signalGroup, trackGroup, untrackGroup } from '../supervisor/process-agent.js';
import { escapeControl } from '../util/escape.js';
import type { RunContext } from './run-context.js';

/** How to start a process agent. */
export interface ProcessRunSpec {
  readonly command: string;
  readonly args?: readonly string[] | undefined;
  /** Added to the minimal environment (PATH, HOME, LANG, TZ, TMPDIR). */
  readonly env?: Readonly<Record<string, string>> | undefined;
  readonly cwd?: string | undefined;
}

/** A durable agent run by a process speaking the durable-run protocol. */
export interface ProcessAgentDefinition {
  readonly name: string;
  readonly version?: string | undefined;
  readonly process: ProcessRunSpec;
}

const NAME = /^[A-Za-z0-9][\w.-]{0,127}$/;

const processSpecSchema = z.strictObject({
  command: z.string().min(1),
  args: z.array(z.string()).optional(),
  env: z.record(z.string(), z.string()).optional(),
  cwd: z.string().min(1).optional(),
});

const processDefinitionSchema = z.strictObject({
  name: z.string().regex(NAME, "1-128 letters, digits, '.', '_' or '-'"),
  version: z.string().min(1).optional(),
  process: processSpecSchema,
});

/** Checks a process agent definition strictly (an unknown key is refused); `INVALID_ARGUMENT`. */
export function validateProcessDefinition(value: unknown): ProcessAgentDefinition {
  const parsed = processDefinitionSchema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const where = issue.path.length === 0 ? 'definition' : issue.path.join('.');
  throw new KernelError('INVALID_ARGUMENT', `Process agent ${where}: ${issue.message}`);
}

/** Options of the bridge. */
export interface ProcessRunOptions {
  /** How long a stopped process has between SIGTERM and SIGKILL (default 2000 ms). */
  readonly graceMs?: number;
  /** Bytes of stderr kept for the failure message (default 8 KiB). */
  readonly stderrLimit?: number;
}

/** The variables a process agent inherits from the kernel (no KERNO_* secrets, no tokens). */
const INHERITED = ['PATH', 'HOME', 'LANG', 'TZ', 'TMPDIR'] as const;

function environment(spec: ProcessRunSpec): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const name of INHERITED) {
    const value = process.env[name];
    if (value !== undefined) env[name] = value;
  }
  return { ...env, ...spec.env };
}

/** A message from a durable process agent. */
type ProcessMessage =
  | { type: 'step'; key: string }
  | {
      type: 'step.result';
      key: string;
      result: unknown;
      usage?: { tokens?: number | undefined; costMicrodollars?: number | undefined } | undefined;
    }
  | { type: 'step.error'; key: string; error: { name: string; message: string } }
  | { type: 'sleep'; ms?: number | undefined; until?: string | number | undefined }
  | { type: 'wait'; name: string; timeoutMs?: number | undefined }
  | { type: 'result'; value: unknown }
  | { type: 'error'; message: string }
  | { type: 'output'; text: string }
  | { type: 'heartbeat' };

const key = z.string().min(1).max(512);
const messageSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('step'), key }),
  z.object({
    type: z.literal('step.result'),
    key,
    result: z.unknown(),
    usage: z
      .object({
        tokens: z.number().finite().nonnegative().optional(),
        costMicrodollars: z.number().finite().nonnegative().optional(),
      })
      .optional(),
  }),
  z.object({
    type: z.literal('step.error'),
    key,
    error: z.object({ name: z.string().default('Error'), message: z.string() }),
  }),
  z
    .object({
      type: z.literal('sleep'),
      ms: z.number().min(0).finite().optional(),
      until: z.union([z.string().min(1), z.number().finite()]).optional(),
    })
    .refine((m) => (m.ms === undefined) !== (m.until === undefined), {
      message: 'a sleep has either ms or until',
    }),
  z.object({
    type: z.literal('wait'),
    name: z.string().min(1),
    timeoutMs: z.number().min(0).finite().optional(),
  }),
  z.object({ type: z.literal('result'), value: z.unknown().optional() }),
  z.object({ type: z.literal('error'), message: z.string() }),
  z.object({ type: z.literal('output'), text: z.string() }),
  z.object({ type: z.literal('heartbeat') }),
]);

/** Parses one line, or says why it is not a protocol message. */
export function parseProcessMessage(line: string): ProcessMessage | string {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return 'not JSON';
  }
  const parsed = messageSchema.safeParse(value);
  if (parsed.success) return parsed.data as ProcessMessage;
  const issue = parsed.error.issues[0]!;
  return `${issue.path.length === 0 ? 'message' : issue.path.join('.')}: ${issue.message}`;
}

/** A failure the process reported (`{"type":"error"}`) or its exit. */
class ProcessRunError extends Error {
  override readonly name = 'ProcessRunError';
}

/** An error a step's process reported with `step.error`. */
class ProcessStepError extends Error {
  constructor(name: string, message: string) {
    super(message);
    this.name = name;
  }
}

/**
 * The run function of a process definition. `executions` counts this bridge's executions per
 * run (the `attempt` the process is told: 1 on the first start in this kernel).
 */
export function processRun(
  definition: ProcessAgentDefinition,
  options: ProcessRunOptions = {},
): (ctx: RunContext, input: unknown) => Promise<unknown> {
  const executions = new Map<string, number>();
  return (ctx, input) => {
    const attempt = (executions.get(ctx.runId) ?? 0) + 1;
    executions.set(ctx.runId, attempt);
    return executeProcess(definition.process, ctx, input, attempt, options);
  };
}

function executeProcess(
  spec: ProcessRunSpec,
  ctx: RunContext,
  input: unknown,
  attempt: number,
  options: ProcessRunOptions,
): Promise<unknown> {
  const graceMs = options.graceMs ?? 2000;
  const stderrLimit = options.stderrLimit ?? 8 * 1024;
  return new Promise<unknown>((resolve, reject) => {
    if (ctx.signal.aborted) {
      reject(asError(ctx.signal.reason));
      return;
    }
    const child = spawn(spec.command, [...(spec.args ?? [])], {
      cwd: spec.cwd,
      env: environment(spec),
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true,
      windowsHide: true,
    });
    const pid = child.pid;
    if (pid !== undefined) trackGroup(pid);
    let stderr = '';
    let lineNo = 0;
    let settled = false;
    let stopping = false;
    let killTimer: NodeJS.Timeout | undefined;
    /** Steps whose `fn` is waiting for the process's `step.result` / `step.error`. */
    const running = new Map<string, { done(value: unknown): void; fail(error: Error): void }>();
    /** What a step reported it spent (`step.result`'s `usage`), recorded with it. */
    const usages = new Map<string, { tokens?: number; costMicrodollars?: number }>();

    const settle = (outcome: { ok: true; value: unknown } | { ok: false; error: Error }): void => {
      if (settled) return;
      settled = true;
      ctx.signal.removeEventListener('abort', onAbort);
      const failed = new KernelError('CLOSED', 'The agent process is gone');
      for (const step of running.values()) step.fail(failed);
      running.clear();
      stop();
      if (outcome.ok) resolve(outcome.value);
      else reject(outcome.error);
    };

    const stop = (): void => {
      if (pid === undefined || stopping || child.exitCode !== null || child.signalCode !== null)
        return;
      stopping = true;
      signalGroup(pid, 'SIGTERM');
      killTimer = setTimeout(() => signalGroup(pid, 'SIGKILL'), graceMs);
      killTimer.unref();
    };

    const onAbort = (): void => settle({ ok: false, error: asError(ctx.signal.reason) });
    ctx.signal.addEventListener('abort', onAbort, { once: true });

    const send = (message: Record<string, unknown>): void => {
      if (settled || !child.stdin.writable) return;
      child.stdin.write(JSON.stringify(message) + '\n');
    };

    const protocolError = (why: string): void =>
      settle({
        ok: false,
        error: new KernelError(
          'PROTOCOL_ERROR',
          `Agent process "${spec.command}" stdout line ${String(lineNo)}: ${escapeControl(why)}`,
        ),
      });

    const onStep = async (stepKey: string): Promise<void> => {
      try {
        const result = await ctx.step(
          stepKey,
          ({ idempotencyKey }) =>
            new Promise<unknown>((done, fail) => {
              running.set(stepKey, { done, fail });
              send({ type: 'step.run', key: stepKey, idempotencyKey });
            }),
          {
            key: stepKey,
            usage: () => {
              const u = usages.get(stepKey);
              usages.delete(stepKey);
              return u ?? {};
            },
          },
        );
        send({ type: 'step.recorded', key: stepKey, result: result ?? null });
      } catch (error) {
        if (settled) return;
        const recorded = (error as { recorded?: { name: string; message: string } }).recorded;
        if (recorded !== undefined) {
          send({ type: 'step.failed', key: stepKey, error: recorded });
          return;
        }
        settle({ ok: false, error: asError(error) });
      }
    };

    const onSleep = async (m: Extract<ProcessMessage, { type: 'sleep' }>): Promise<void> => {
      try {
        if (m.ms !== undefined) await ctx.sleep(m.ms);
        else {
          const at = typeof m.until === 'number' ? m.until : Date.parse(m.until!);
          if (!Number.isFinite(at)) {
            protocolError(`sleep.until is not a date: ${JSON.stringify(m.until)}`);
            return;
          }
          await ctx.sleepUntil(at);
        }
        send({ type: 'slept' });
      } catch (error) {
        settle({ ok: false, error: asError(error) });
      }
    };

    const onWait = async (m: Extract<ProcessMessage, { type: 'wait' }>): Promise<void> => {
      try {
        const payload = await ctx.waitForSignal(
          m.name,
          m.timeoutMs === undefined ? {} : { timeoutMs: m.timeoutMs },
        );
        send({ type: 'signal', name: m.name, payload: payload ?? null });
      } catch (error) {
        if (error instanceof KernelError && error.code === 'TIMEOUT') {
          send({ type: 'wait.timeout', name: m.name });
          return;
        }
        settle({ ok: false, error: asError(error) });
      }
    };

    const handle = (line: string): void => {
      lineNo++;
      if (settled || line.trim() === '') return;
      const m = parseProcessMessage(line);
      if (typeof m === 'string') {
        protocolError(m);
        return;
      }
      switch (m.type) {
        case 'step':
          if (running.has(m.key)) {
            protocolError(`step '${m.key}' is already running`);
            return;
          }
          void onStep(m.key);
          return;
        case 'step.result':
        case 'step.error': {
          const step = running.get(m.key);
          if (step === undefined) {
            protocolError(`${m.type} for step '${m.key}', which the kernel did not ask to run`);
            return;
          }
          running.delete(m.key);
          if (m.type === 'step.result') {
            if (m.usage !== undefined) {
              usages.set(m.key, {
                ...(m.usage.tokens === undefined ? {} : { tokens: m.usage.tokens }),
                ...(m.usage.costMicrodollars === undefined
                  ? {}
                  : { costMicrodollars: m.usage.costMicrodollars }),
              });
            }
            step.done(m.result ?? null);
          } else step.fail(new ProcessStepError(m.error.name, m.error.message));
          return;
        }
        case 'sleep':
          void onSleep(m);
          return;
        case 'wait':
          void onWait(m);
          return;
        case 'result':
          settle({ ok: true, value: m.value ?? null });
          return;
        case 'error':
          settle({ ok: false, error: new ProcessRunError(escapeControl(m.message)) });
          return;
        case 'output':
        case 'heartbeat':
          return;
      }
    };

    const lines = frameLines(child.stdout, handle);
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      stderr += chunk;
      if (stderr.length > stderrLimit * 2) stderr = stderr.slice(-stderrLimit);
    });
    child.stdin.on('error', () => undefined);
    child.once('error', (error) => {
      settle({
        ok: false,
        error: new ProcessRunError(
          `Could not start agent process "${spec.command}": ${errorMessage(error)}`,
        ),
      });
    });
    child.once('spawn', () =>
      send({
        type: 'run',
        runId: ctx.runId,
        input,
        attempt,
        ...(ctx.config === undefined ? {} : { config: ctx.config }),
        ...(ctx.resumes === 0 ? {} : { resumes: ctx.resumes }),
      }),
    );
    child.once('close', (code, signal) => {
      if (pid !== undefined) {
        signalGroup(pid, 'SIGKILL');
        untrackGroup(pid);
      }
      if (killTimer !== undefined) clearTimeout(killTimer);
      lines.flush();
      if (settled) return;
      const tail = escapeControl(stderr.slice(-stderrLimit).trim());
      const what =
        code !== null
          ? `exited with code ${String(code)}`
          : `was killed by ${signal ?? 'a signal'}`;
      const why = code === 0 ? 'exited without a result message' : what;
      settle({
        ok: false,
        error: new ProcessRunError(
          `Agent process "${spec.command}" ${why}${tail === '' ? '' : `; stderr: ${tail}`}`,
        ),
      });
    });
  });
}

function asError(reason: unknown): Error {
  return reason instanceof Error ? reason : new KernelError('CLOSED', String(reason));
}
