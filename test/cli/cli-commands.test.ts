import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type KernoServer } from '../../src/server/app.js';
import { writeRecoveryArtifact } from '../../src/recovery/recovery-artifact.js';
import { executeRecoveryLoop } from '../../src/recovery/recovery-loop.js';
import { createFailureSignal, DEFAULT_RECOVERY_POLICY } from '../../src/recovery/recovery-types.js';
import { ManualClock } from '../../src/util/clock.js';
import { cli } from '../helpers/cli.js';
import { testKernel } from '../helpers/kernel.js';
import { waitFor } from '../helpers/wait.js';
import type { Kernel } from '../../src/kernel.js';

const TOKEN = 'kerno_cli_test_token_0123456789abcdef';
let server: KernoServer;
let kernel: Kernel;
let dir: string;
let cleanup: () => Promise<void>;
let base: string[];

beforeAll(async () => {
  const k = await testKernel();
  kernel = k.kernel;
  dir = k.dir;
  cleanup = k.cleanup;
  server = await createServer(kernel, { token: TOKEN });
  const { url } = await server.listen({ port: 0 });
  base = ['--url', url, '--token', TOKEN, '--home', dir];
});
afterAll(async () => {
  await server.close();
  await cleanup();
});

const budget = JSON.stringify({
  type: 'BudgetExceeded',
  data: { chain_id: 'c', resource: 'Tokens', limit: '1', observed: null },
});

describe('kerno CLI against a daemon', () => {
  it('appends and queries the ledger, as a table and as JSON', async () => {
    const a = await cli(...base, 'ledger', 'append', '--event', budget, '--tenant', 't1', '--json');
    expect(a.code).toBe(0);
    expect(JSON.parse(a.stdout)).toMatchObject({ position: 1, envelope: { tenant_id: 't1' } });
    const table = await cli(...base, 'ledger', 'query', '--tenant', 't1');
    expect(table.stdout).toMatch(/^position\s+occurred_at\s+kind/);
    expect(table.stdout).toContain('BudgetExceeded');
    const json = await cli(...base, 'ledger', 'query', '--kinds', 'BudgetExceeded', '--json');
    expect(JSON.parse(json.stdout)).toHaveLength(1);
    const bad = await cli(...base, 'ledger', 'append', '--event', '{"type":"Nope","data":{}}');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('INVALID_EVENT');
  });

  it('imports and exports NDJSON', async () => {
    const file = join(dir, 'in.ndjson');
    writeFileSync(
      file,
      [1, 2]
        .map((i) =>
          JSON.stringify({
            event_id: `imp-${i}`,
            occurred_at: '2026-01-01T00:00:00Z',
            tenant_id: null,
            correlation_id: null,
            event: JSON.parse(budget) as unknown,
          }),
        )
        .join('\n') + '\n',
    );
    const imp = await cli(...base, 'ledger', 'import', file, '--json');
    expect(JSON.parse(imp.stdout)).toEqual({
      imported: 2,
      duplicates: 0,
      skipped: 0,
      conflicts: 0,
      rekeyed: 0,
    });
    // a folder is bad input, not an unreachable daemon
    const folder = await cli(...base, 'ledger', 'import', dir);
    expect(folder.code).toBe(2);
    expect(folder.stderr).toContain(`Cannot read ${dir}`);
    const out = join(dir, 'out.ndjson');
    const exp = await cli(...base, 'ledger', 'export', '--out', out);
    expect(exp.code).toBe(0);
    const { readFileSync } = await import('node:fs');
    const lines = readFileSync(out, 'utf8').trim().split('\n');
    expect(lines.length).toBeGreaterThanOrEqual(2);
    expect(exp.stderr).toBe(`exported ${lines.length} records to ${out}\n`);
    const toStdout = await cli(...base, 'ledger', 'export');
    expect(toStdout.code).toBe(0);
    expect(toStdout.stdout.trim().split('\n')).toEqual(lines);
  });

  it('verifies and exports the audit trail; a tampered export exits 1', async () => {
    const v = await cli(...base, 'audit', 'verify');
    expect(v.code).toBe(0);
    expect(v.stdout).toMatch(/^ok: \d+ entries verify/);
    const out = join(dir, 'audit.json');
    expect((await cli(...base, 'audit', 'export', '--out', out)).code).toBe(0);
    const { readFileSync } = await import('node:fs');
    const doc = JSON.parse(readFileSync(out, 'utf8')) as { entries: { actor: string }[] };
    expect((await cli('audit', 'verify', '--export', out)).code).toBe(0);
    if (doc.entries.length > 0) {
      doc.entries[0]!.actor = 'forged';
      writeFileSync(out, JSON.stringify(doc));
      const broken = await cli('audit', 'verify', '--export', out);
      expect(broken.code).toBe(1);
      expect(broken.stdout).toContain('BROKEN at seq');
    }
  });

  it('lists and decides approvals', async () => {
    const waiting = kernel.approvals.request({ agentId: 'agent-x', summary: 'Deploy to prod?' });
    let ls = await cli(...base, 'approvals', 'ls', '--json');
    for (let i = 0; i < 50 && (JSON.parse(ls.stdout) as unknown[]).length === 0; i++)
      ls = await cli(...base, 'approvals', 'ls', '--json');
    const [gate] = JSON.parse(ls.stdout) as { id: string }[];
    const table = await cli(...base, 'approvals', 'ls');
    expect(table.stdout).toContain('Deploy to prod?');
    const r = await cli(
      ...base,
      'approvals',
      'reject',
      gate!.id,
      '--reason',
      'not today',
      '--by',
      'cli',
    );
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^rejected/);
    await expect(waiting).resolves.toMatchObject({ approved: false, reason: 'not today' });
    const again = await cli(...base, 'approvals', 'approve', gate!.id);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('CONFLICT');
  });

  it('tails events with a limit', async () => {
    // Resume from the current head: the events below are seen however late the stream connects.
    await kernel.audit.flush();
    const { seq } = await kernel.audit.head();
    const tail = cli(
      ...base,
      'events',
      'tail',
      '--since',
      String(seq),
      '--type',
      'AgentStarted',
      '--limit',
      '2',
      '--json',
    );
    const ID = '67e55044-10b1-426f-9247-bb680e5fe0c8';
    kernel.bus.publish({ type: 'AgentStarted', id: ID });
    kernel.bus.publish({ type: 'AgentStopped', id: ID });
    kernel.bus.publish({ type: 'AgentStarted', id: ID });
    const res = await tail;
    expect(res.code).toBe(0);
    const lines = res.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { event: { type: string } });
    expect(lines.map((l) => l.event.type)).toEqual(['AgentStarted', 'AgentStarted']);
  });

  it("prints run steps' events as live (no id of their own), recorded ones with their id", async () => {
    const clients = server.feed.stats().clients;
    const tail = cli(
      ...base,
      'events',
      'tail',
      '--type',
      'ToolExecutionFinished,AgentStarted',
      '--limit',
      '2',
      '--json',
    );
    // Live events reach streams that are connected: wait for this one.
    await waitFor(() => server.feed.stats().clients === clients + 1, 'the tail to connect');
    kernel.define({ name: 'tailed', version: '1', run: (ctx) => ctx.step('only', () => 1) });
    await (await kernel.start('tailed', null)).result();
    kernel.bus.publish({ type: 'AgentStarted', id: '67e55044-10b1-426f-9247-bb680e5fe0c8' });
    const res = await tail;
    expect(res.code).toBe(0);
    const lines = res.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { id: number | null; live?: boolean; event: { type: string } });
    expect(lines.map((l) => [l.event.type, l.id === null, l.live ?? false])).toEqual([
      ['ToolExecutionFinished', true, true],
      ['AgentStarted', false, false],
    ]);
  });

  it('reports status; exits 3 when the daemon is unreachable and 1 on a bad token', async () => {
    const s = await cli(...base, 'status', '--json');
    expect(s.code).toBe(0);
    expect(JSON.parse(s.stdout)).toMatchObject({ status: 'ok', store: 'memory' });
    const down = await cli('--url', 'http://127.0.0.1:9', '--token', 'x', 'status');
    expect(down.code).toBe(3);
    expect(down.stderr).toContain('kerno up');
    const badToken = await cli('--url', base[1]!, '--token', 'wrong', 'ledger', 'query');
    expect(badToken.code).toBe(1);
    expect(badToken.stderr).toContain('UNAUTHORIZED');
  });

  it('creates tenant tokens that the daemon accepts', async () => {
    const created = await cli('--home', dir, 'tokens', 'create', '--tenant', 'acme', '--json');
    const { token } = JSON.parse(created.stdout) as { token: string };
    const own = await cli(
      '--url',
      base[1]!,
      '--token',
      token,
      'ledger',
      'append',
      '--event',
      budget,
      '--json',
    );
    expect(JSON.parse(own.stdout)).toMatchObject({ envelope: { tenant_id: 'acme' } });
    const denied = await cli('--url', base[1]!, '--token', token, 'agents', 'ls');
    expect(denied.code).toBe(1);
    expect(denied.stderr).toContain('FORBIDDEN');
    // the approval inbox is a tenant route, confined to the tenant's gates
    const inbox = await cli('--url', base[1]!, '--token', token, 'approvals', 'ls');
    expect(inbox.code, inbox.stderr).toBe(0);
    const ls = await cli('--home', dir, 'tokens', 'ls', '--json');
    expect(JSON.stringify(JSON.parse(ls.stdout))).not.toContain(token);
  });
});

describe('kerno CLI on files and stores', () => {
  it('shows and verifies recovery artifacts; a digest mismatch exits 1', async () => {
    const rdir = join(dir, 'recovery');
    mkdirSync(rdir, { recursive: true });
    const log = await executeRecoveryLoop(
      'run-cli-1',
      createFailureSignal('test', 'assertion failed'),
      DEFAULT_RECOVERY_POLICY,
      async () => ({ success: true, next_failure: null }),
      { clock: new ManualClock() },
    );
    await writeRecoveryArtifact(log, rdir);
    const show = await cli('recovery', 'show', rdir, 'run-cli-1');
    expect(show.code).toBe(0);
    expect(show.stdout).toContain('patch_forward');
    expect((await cli('recovery', 'verify', rdir, 'run-cli-1')).code).toBe(0);
    const { readFileSync } = await import('node:fs');
    const file = join(rdir, 'run-cli-1', 'recovery.json');
    writeFileSync(file, readFileSync(file, 'utf8').replace('recovered', 'failed'));
    const bad = await cli('recovery', 'verify', rdir, 'run-cli-1');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('DIGEST_MISMATCH');
  });

  it('inspects RVLS files and recalls from them', async () => {
    const file = join(dir, 'l.rvls');
    writeFileSync(
      file,
      'RVLS\n{"type":"pattern","data":{"id":"p1","strategy":"retry flaky network tests","embedding_weights":{},"success_rate":0.9,"use_count":3,"domain":"ci","quality":0.8,"is_long_term":false,"last_used":"2026-05-14T10:00:00Z"}}\nnot json\n{"type":"ewc","data":{"tasks_learned":2,"protection_strength":1000.0,"task_weights":{}}}\nREND',
    );
    const inspect = await cli('learning', 'inspect', file, '--json');
    expect(JSON.parse(inspect.stdout)).toMatchObject({
      patternCount: 1,
      skippedRecords: 1,
      domains: { ci: 1 },
    });
    const recall = await cli('learning', 'recall', file, 'flaky', 'tests', '--json');
    expect((JSON.parse(recall.stdout) as { pattern: { id: string } }[])[0]!.pattern.id).toBe('p1');
    writeFileSync(join(dir, 'bad.rvls'), 'garbage');
    const bad = await cli('learning', 'inspect', join(dir, 'bad.rvls'));
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('INVALID_RVLS_FILE');
    const missing = await cli('learning', 'inspect', join(dir, 'no-such.rvls'));
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('NOT_FOUND');
    expect(missing.stderr).toContain('no-such.rvls');
  });

  it('works on a store directly with --store', async () => {
    const url = `sqlite:${join(dir, 'direct.db')}`;
    expect((await cli('ledger', 'append', '--store', url, '--event', budget)).code).toBe(0);
    const q = await cli('ledger', 'query', '--store', url, '--json');
    expect(JSON.parse(q.stdout)).toHaveLength(1);
    const v = await cli('audit', 'verify', '--store', url, '--json');
    expect(JSON.parse(v.stdout)).toMatchObject({ ok: true });
    const out = join(dir, 'direct.ndjson');
    const exp = await cli('ledger', 'export', '--store', url, '--out', out);
    expect(exp.stderr).toBe(`exported 1 records to ${out}\n`);
    const { readFileSync } = await import('node:fs');
    expect(JSON.parse(readFileSync(out, 'utf8'))).toMatchObject({
      event: JSON.parse(budget) as unknown,
    });
    const toStdout = await cli('ledger', 'export', '--store', url);
    expect(toStdout.stdout).toBe(readFileSync(out, 'utf8'));
    // --stored: the stored canonical body, the same envelope in sorted-key order.
    const stored = await cli('ledger', 'export', '--store', url, '--stored');
    expect(stored.code).toBe(0);
    expect(JSON.parse(stored.stdout)).toEqual(JSON.parse(toStdout.stdout));
    expect(stored.stdout.startsWith('{"correlation_id":')).toBe(true);
    const both = await cli('ledger', 'export', '--store', url, '--stored', '--records');
    expect(both.code).not.toBe(0);
    expect(both.stderr).toMatch(/--records or --stored/);
  });

  it('imports a file into a store directly with --store (no bytes lost while the store opens)', async () => {
    const url = `sqlite:${join(dir, 'imported.db')}`;
    const file = join(dir, 'many.ndjson');
    const lines = Array.from({ length: 5000 }, (_, i) =>
      JSON.stringify({
        event_id: `many-${i}`,
        occurred_at: '2026-01-01T00:00:00Z',
        tenant_id: null,
        correlation_id: null,
        event: JSON.parse(budget) as unknown,
      }),
    );
    writeFileSync(file, lines.join('\n') + '\n');
    const imp = await cli('ledger', 'import', file, '--store', url, '--json');
    expect(JSON.parse(imp.stdout)).toEqual({
      imported: 5000,
      duplicates: 0,
      skipped: 0,
      conflicts: 0,
      rekeyed: 0,
    });
    const again = await cli('ledger', 'import', file, '--store', url, '--json');
    expect(JSON.parse(again.stdout)).toEqual({
      imported: 0,
      duplicates: 5000,
      skipped: 0,
      conflicts: 0,
      rekeyed: 0,
    });
  });

  it('imports with --store under the per-tenant id rule: one event_id in two tenants is two records', async () => {
    const url = `sqlite:${join(dir, 'tenants.db')}`;
    const file = join(dir, 'tenants.ndjson');
    const lines = ['alice', 'bob', null].map((tenant) =>
      JSON.stringify({
        event_id: 'same-id',
        occurred_at: '2026-01-01T00:00:00Z',
        tenant_id: tenant,
        correlation_id: null,
        event: JSON.parse(budget) as unknown,
      }),
    );
    writeFileSync(file, lines.join('\n') + '\n');
    const imp = await cli('ledger', 'import', file, '--store', url, '--json');
    expect(JSON.parse(imp.stdout)).toEqual({
      imported: 3,
      duplicates: 0,
      skipped: 0,
      conflicts: 0,
      rekeyed: 0,
    });
    const again = await cli('ledger', 'import', file, '--store', url, '--json');
    expect(JSON.parse(again.stdout)).toEqual({
      imported: 0,
      duplicates: 3,
      skipped: 0,
      conflicts: 0,
      rekeyed: 0,
    });
    const q = await cli('ledger', 'query', '--store', url, '--tenant', 'bob', '--json');
    expect(JSON.parse(q.stdout)).toMatchObject([
      { envelope: { event_id: 'same-id', tenant_id: 'bob' } },
    ]);
  });

  it('doctor reports its checks', async () => {
    const d = await cli('--home', dir, 'doctor', '--store', 'memory:', '--json');
    const { checks } = JSON.parse(d.stdout) as { checks: { check: string; status: string }[] };
    expect(checks.find((c) => c.check === 'node')?.status).toBe('ok');
    expect(checks.find((c) => c.check === 'store')?.status).toBe('ok');
  });
});
