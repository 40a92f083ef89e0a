/**
 * OpenTelemetry through the built-in OTLP/HTTP JSON exporter, checked on a real receiver on a
 * local port: a run with a retried step and an approval arrives as one trace (run root, step
 * children, attempt spans, the approval with its decision), trace context is in the journal and
 * the step events, a run resumed after a restart continues its trace, a process agent gets the
 * run's context in its environment and protocol, and without configuration nothing is exported.
 */
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createKernel, type Kernel, type KernelOptions } from '../../src/kernel.js';
import type { AgentDefinition } from '../../src/runs/run-engine.js';
import { journalView, readJournal, runIndexView } from '../../src/runs/journal.js';
import { parseTraceparent } from '../../src/util/trace-context.js';
import { parseAgentMessage } from '../../src/supervisor/process-agent.js';
import { createMemoryLogger, silentLogger } from '../../src/util/logger.js';
import type { KernelEvent } from '../../src/model/kernel-event.js';
import { tempDir } from '../helpers/stores.js';
import { createServer } from '../../src/server/app.js';
import { attributesOf, startOtlpReceiver, type OtlpReceiver } from '../helpers/otlp-receiver.js';

let receiver: OtlpReceiver;
let dir: string;
let cleanupDir: () => void;
const kernels: Kernel[] = [];

beforeEach(async () => {
  receiver = await startOtlpReceiver();
  ({ dir, cleanup: cleanupDir } = tempDir('kerno-otel-'));
});
afterEach(async () => {
  for (const k of kernels.splice(0)) await k.close();
  await receiver.close();
  cleanupDir();
});

function otelEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    OTEL_SERVICE_NAME: 'kerno-test',
    OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=test,team=agents',
    OTEL_EXPORTER_OTLP_HEADERS: 'x-api-key=s3cret%20value',
    // Long enough that only the shutdown flush exports: the test reads after close.
    OTEL_BSP_SCHEDULE_DELAY: '60000',
    OTEL_METRICS_EXPORTER: 'none',
    ...extra,
  };
}

async function open(options: KernelOptions = {}): Promise<Kernel> {
  const kernel = await createKernel({
    store: `sqlite:${join(dir, 'kerno.db')}`,
    stateDir: dir,
    logger: silentLogger,
    registryKey: 'otel test key',
    registryScryptCost: 1024,
    telemetry: { env: otelEnv() },
    ...options,
  });
  kernels.push(kernel);
  return kernel;
}

async function close(kernel: Kernel): Promise<void> {
  kernels.splice(kernels.indexOf(kernel), 1);
  await kernel.close();
}

function reaches(kernel: Kernel, id: string, status: string): Promise<void> {
  return new Promise((resolve) => {
    const off = kernel.runs.onStatus((run) => {
      if (run.id === id && run.status === status) {
        off();
        resolve();
      }
    });
  });
}

const deployer = (calls: { fetch: number }): AgentDefinition<unknown, unknown> => ({
  name: 'deployer',
  version: '3',
  run: async (ctx) => {
    const plan = await ctx.step(
      'fetch',
      ({ attempt }) => {
        calls.fetch++;
        if (attempt === 1) throw new TypeError('upstream hiccup');
        return { target: 'v42' };
      },
      { retry: { attempts: 3, backoffMs: 1 } },
    );
    const decision = await ctx.requestApproval({
      summary: `Deploy ${plan.target}? token=do-not-export`,
      action: 'deploy',
    });
    return ctx.step('deploy', () => ({ deployed: decision.approved }));
  },
});

describe('OpenTelemetry over OTLP/HTTP JSON', () => {
  it('exports a run with a retried step and an approval as one span tree', async () => {
    const calls = { fetch: 0 };
    const kernel = await open({ define: [deployer(calls)] });
    expect(kernel.telemetry?.traces).toBe('otlp');
    const events: KernelEvent[] = [];
    kernel.bus.on(['ToolExecutionStarted', 'ToolExecutionFinished'], (e) => events.push(e));
    const run = await kernel.start('deployer', {});
    await reaches(kernel, run.id, 'waiting');
    const [gate] = kernel.approvals.list({ status: 'pending' });
    await kernel.approvals.approve(gate!.id, { by: 'alice', note: 'secret note' });
    expect(await run.result()).toEqual({ deployed: true });

    // trace context in the run index and in every journal record
    const started = await runIndexView(kernel.storage.log).get(`${run.id}:started`);
    const root = parseTraceparent(started?.type === 'run.started' ? started.traceparent : '');
    expect(root).toBeDefined();
    const journal = await readJournal(journalView(kernel.storage.log, run.id, () => Date.now()));
    expect(journal.map((e) => e.type)).toEqual(['step', 'approval', 'approval.done', 'step']);
    for (const e of journal) expect(parseTraceparent(e.traceparent)?.traceId).toBe(root!.traceId);
    // and in the step events on the bus
    expect(events.map((e) => e.type)).toEqual([
      'ToolExecutionStarted',
      'ToolExecutionFinished',
      'ToolExecutionStarted',
      'ToolExecutionFinished',
    ]);
    expect(events[0]!.traceparent).toBe(journal[0]!.traceparent);
    expect(receiver.requests).toEqual([]); // batched until the flush

    await close(kernel);
    const spans = receiver.spans();
    expect(new Set(spans.map((s) => s.traceId))).toEqual(new Set([root!.traceId]));
    const byName = (name: string) => spans.filter((s) => s.name === name);
    const [runSpan] = byName('run deployer');
    expect(runSpan).toBeDefined();
    expect(runSpan!.spanId).toBe(root!.spanId);
    expect(runSpan!.parentSpanId).toBeUndefined();
    expect(attributesOf(runSpan!)).toMatchObject({
      'kerno.run.id': run.id,
      'kerno.agent.name': 'deployer',
      'kerno.agent.version': '3',
      'kerno.run.status': 'completed',
    });
    expect(runSpan!.resource).toMatchObject({
      'service.name': 'kerno-test',
      'deployment.environment': 'test',
      team: 'agents',
    });

    const [fetch] = byName('step fetch');
    expect(fetch!.parentSpanId).toBe(runSpan!.spanId);
    expect(attributesOf(fetch!)).toMatchObject({
      'kerno.step.key': 'fetch#1',
      'kerno.step.attempts': '2',
    });
    expect(fetch!.status.code).toBe(0);
    const attempts = byName('step.attempt').filter((s) => s.parentSpanId === fetch!.spanId);
    expect(attempts.map((a) => attributesOf(a)['kerno.step.attempt']).sort()).toEqual(['1', '2']);
    const failed = attempts.find((a) => attributesOf(a)['kerno.step.attempt'] === '1')!;
    expect(failed.status.code).toBe(2);
    expect(attributesOf(failed)['error.type']).toBe('TypeError');
    expect(calls.fetch).toBe(2);
    // the journal's step record carries the step span's context
    expect(parseTraceparent(journal[0]!.traceparent)?.spanId).toBe(fetch!.spanId);

    const [deploy] = byName('step deploy');
    expect(deploy!.parentSpanId).toBe(runSpan!.spanId);

    const [approval] = byName('approval deploy');
    expect(approval!.parentSpanId).toBe(runSpan!.spanId);
    expect(attributesOf(approval!)).toMatchObject({
      'kerno.approval.decision': 'approved',
      'kerno.approval.decided_by': 'alice',
      'kerno.approval.origin': 'agent',
      'kerno.approval.id': gate!.id,
    });
    expect(BigInt(approval!.endTimeUnixNano)).toBeGreaterThanOrEqual(
      BigInt(approval!.startTimeUnixNano),
    );
    // never the summary, the note or config values
    const wire = JSON.stringify(receiver.requests.map((r) => r.body));
    expect(wire).not.toContain('do-not-export');
    expect(wire).not.toContain('secret note');
    // the configured headers went with the request
    expect(receiver.requests[0]!.path).toBe('/v1/traces');
    expect(receiver.requests[0]!.headers['x-api-key']).toBe('s3cret value');
    expect(receiver.requests[0]!.headers['content-type']).toBe('application/json');
  });

  it('continues the same trace when a run resumes after a restart, and marks replayed steps', async () => {
    const calls = { fetch: 0 };
    const first = await open({ define: [deployer(calls)] });
    const run = await first.start('deployer', {});
    await reaches(first, run.id, 'waiting');
    const [gate] = first.approvals.list({ status: 'pending' });
    await close(first);
    const fromFirst = receiver.spans();
    // the run had not ended: its root is not exported by the first kernel
    expect(fromFirst.map((s) => s.name).sort()).toEqual([
      'step fetch',
      'step.attempt',
      'step.attempt',
    ]);

    const tool = await open({ agents: false, telemetry: false });
    expect(tool.telemetry).toBeUndefined();
    await tool.approvals.approve(gate!.id, { by: 'bob' });
    await close(tool);

    const second = await open({ define: [deployer(calls)] });
    expect((await second.runs.wait(run.id)).status).toBe('completed');
    await close(second);
    expect(calls.fetch).toBe(2); // the finished step was not run again

    const spans = receiver.spans();
    const traceId = fromFirst[0]!.traceId;
    expect(new Set(spans.map((s) => s.traceId))).toEqual(new Set([traceId]));
    const runSpan = spans.find((s) => s.name === 'run deployer')!;
    expect(spans.find((s) => s.name === 'step fetch')!.parentSpanId).toBe(runSpan.spanId);
    expect(spans.find((s) => s.name === 'step deploy')!.parentSpanId).toBe(runSpan.spanId);
    expect(attributesOf(runSpan)['kerno.run.resumed']).toBe(true);
    expect(runSpan.events.map((e) => e.name)).toContain('kerno.run.resumed');
    const replayed = runSpan.events.filter((e) => e.name === 'kerno.step.replayed');
    expect(replayed.map((e) => attributesOf(e)['kerno.step.key'])).toEqual(['fetch#1']);
    // replayed steps are not exported again as executed
    expect(spans.filter((s) => s.name === 'step fetch')).toHaveLength(1);
  });

  it("gives a process agent the run's context in TRACEPARENT and the protocol, and parents its steps", async () => {
    const kernel = await open();
    const callerSpan = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    await kernel.define({
      name: 'proc',
      process: {
        command: process.execPath,
        args: [
          '-e',
          `const rl = require('node:readline').createInterface({ input: process.stdin });
           const q = []; const w = [];
           rl.on('line', (l) => { const m = JSON.parse(l); const n = w.shift(); n ? n(m) : q.push(m); });
           const recv = () => q.length ? Promise.resolve(q.shift()) : new Promise((r) => w.push(r));
           const send = (m) => process.stdout.write(JSON.stringify(m) + '\\n');
           (async () => {
             const run = await recv();
             send({ type: 'step', key: 'env', traceparent: ${JSON.stringify(callerSpan)} });
             const step = await recv();
             send({ type: 'step.result', key: 'env', result: {
               env: process.env.TRACEPARENT, run: run.traceparent, stepRun: step.traceparent } });
             await recv();
             send({ type: 'result', value: 'ok' });
           })();`,
        ],
      },
    });
    const run = await kernel.start('proc', null);
    expect(await run.result()).toBe('ok');
    const info = await kernel.runs.get(run.id);
    const seen = info.steps[0]!.result as { env: string; run: string; stepRun: string };
    const started = await runIndexView(kernel.storage.log).get(`${run.id}:started`);
    const root = parseTraceparent(started?.type === 'run.started' ? started.traceparent : '')!;
    expect(seen.env).toBe(seen.run);
    expect(parseTraceparent(seen.env)).toMatchObject({
      traceId: root.traceId,
      spanId: root.spanId,
    });
    await close(kernel);

    const spans = receiver.spans();
    // the process's step message carried a traceparent: the step span is its child
    const step = spans.find((s) => s.name === 'step env')!;
    expect(step.traceId).toBe('0af7651916cd43dd8448eb211c80319c');
    expect(step.parentSpanId).toBe('b7ad6b7169203331');
    expect(step.links.map((l) => l.spanId)).toEqual([root.spanId]);
    // and step.run handed it the attempt span's context
    const attempt = spans.find((s) => s.name === 'step.attempt')!;
    expect(parseTraceparent(seen.stepRun)?.spanId).toBe(attempt.spanId);
  });

  it("keeps a process agent's ledger trace context in the envelope's metadata", async () => {
    const tp = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const message = parseAgentMessage(
      JSON.stringify({
        type: 'ledger',
        event: { type: 'Other' },
        options: { eventId: 'e-1' },
        traceparent: tp,
        tracestate: 'vendor=abc',
      }),
    );
    expect(message.type === 'ledger' && message.options).toEqual({
      eventId: 'e-1',
      traceparent: tp,
      tracestate: 'vendor=abc',
    });
    // an invalid one is ignored, as the W3C spec says
    const bad = parseAgentMessage(
      JSON.stringify({ type: 'ledger', event: {}, traceparent: '00-zz-00-01' }),
    );
    expect(bad.type === 'ledger' && bad.options).toEqual({});

    const kernel = await open({ telemetry: false });
    const event = {
      type: 'FactPromoted',
      data: {
        proposal_id: 'p-1',
        fact_id: 'f-1',
        promoted_by: 'engine',
        reason: 'ok',
        requires_human: false,
      },
    } as const;
    const record = await kernel.ledger.append(event, { eventId: 'e-1', traceparent: tp });
    expect((record.envelope as unknown as { metadata: unknown }).metadata).toEqual({
      traceparent: tp,
    });
    const read = await kernel.ledger.get('e-1');
    expect((read!.envelope as unknown as { metadata: unknown }).metadata).toEqual({
      traceparent: tp,
    });
    // the same event again under another trace is the same event
    const again = await kernel.ledger.append(event, {
      eventId: 'e-1',
      traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b8-01',
    });
    expect(again.position).toBe(record.position);
    await expect(
      kernel.ledger.append(event, { eventId: 'e-2', traceparent: 'nope' }),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it("makes an API caller's traceparent the parent of the run and keeps it with a ledger event", async () => {
    const kernel = await open({
      define: [{ name: 'quick', run: (ctx) => ctx.step('one', () => 1) }],
    });
    const token = 'kerno_test_admin_token_0123456789';
    const server = await createServer(kernel, { token });
    const caller = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const headers = { authorization: `Bearer ${token}`, traceparent: caller };
    const started = await server.app.inject({
      method: 'POST',
      url: '/api/runs',
      headers,
      payload: { agent: 'quick', input: null },
    });
    expect(started.statusCode).toBe(201);
    const { id } = started.json<{ id: string }>();
    expect((await kernel.runs.wait(id)).status).toBe('completed');
    const appended = await server.app.inject({
      method: 'POST',
      url: '/api/ledger',
      headers,
      payload: {
        event: {
          type: 'FactPromoted',
          data: {
            proposal_id: 'p',
            fact_id: 'f',
            promoted_by: 'e',
            reason: 'r',
            requires_human: false,
          },
        },
        eventId: 'traced-1',
      },
    });
    expect(appended.statusCode).toBe(201);
    const record = await kernel.ledger.get('traced-1');
    expect((record!.envelope as unknown as { metadata: unknown }).metadata).toEqual({
      traceparent: caller,
    });
    // an invalid header is ignored, as the W3C spec says
    const ignored = await server.app.inject({
      method: 'POST',
      url: '/api/runs',
      headers: { ...headers, traceparent: 'garbage' },
      payload: { agent: 'quick', input: null },
    });
    expect(ignored.statusCode).toBe(201);
    await kernel.runs.wait(ignored.json<{ id: string }>().id);
    await server.close();
    await close(kernel);
    const roots = receiver.spans().filter((s) => s.name === 'run quick');
    expect(roots).toHaveLength(2);
    const child = roots.find((s) => attributesOf(s)['kerno.run.id'] === id)!;
    expect(child.traceId).toBe('0af7651916cd43dd8448eb211c80319c');
    expect(child.parentSpanId).toBe('b7ad6b7169203331');
    const other = roots.find((s) => s !== child)!;
    expect(other.parentSpanId).toBeUndefined();
    expect(other.traceId).not.toBe(child.traceId);
  });

  it('exports nothing and builds no telemetry when OTel is not configured', async () => {
    for (const env of [
      {},
      { OTEL_SDK_DISABLED: 'true', OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url },
      {
        OTEL_TRACES_EXPORTER: 'none',
        OTEL_METRICS_EXPORTER: 'none',
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      },
    ]) {
      const kernel = await open({ define: [deployer({ fetch: 0 })], telemetry: { env } });
      expect(kernel.telemetry).toBeUndefined();
      const run = await kernel.start('deployer', {});
      await reaches(kernel, run.id, 'waiting');
      const journal = await readJournal(journalView(kernel.storage.log, run.id, () => Date.now()));
      expect(journal.every((e) => e.traceparent === undefined)).toBe(true);
      const started = await runIndexView(kernel.storage.log).get(`${run.id}:started`);
      expect(started && 'traceparent' in started).toBe(false);
      await close(kernel);
    }
    expect(receiver.requests).toEqual([]);
  });

  it('says at start that only http/json is built in, and counts failed exports without crashing', async () => {
    const logger = createMemoryLogger();
    receiver.statuses = [503, 503, 503, 503, 503];
    const kernel = await open({
      define: [deployer({ fetch: 0 })],
      logger,
      telemetry: { env: otelEnv({ OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf' }) },
    });
    expect(logger.lines.some((e) => /only http\/json is/.test(e.message))).toBe(true);
    const run = await kernel.start('deployer', {});
    await reaches(kernel, run.id, 'waiting');
    await kernel.telemetry!.flush();
    const stats = kernel.telemetry!.stats().traces!;
    expect(stats.retries).toBe(4);
    expect(stats.failedExports).toBe(1);
    expect(stats.dropped).toBe(3);
    const failures = logger.lines.filter((e) => /OTLP trace export failed/.test(e.message));
    expect(failures).toHaveLength(1);
    expect(JSON.stringify(logger.lines)).not.toContain('s3cret');
    await close(kernel);
  });
});
