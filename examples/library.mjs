/* eslint-disable no-console -- an example program: its output is the point */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createKernel } from 'kerno';

// A home and store of its own: runs beside a `kerno up` daemon (no STORE_LOCKED).
const home = mkdtempSync(join(tmpdir(), 'kerno-example-'));
const kernel = await createKernel({
  stateDir: home,
  store: `sqlite:${join(home, 'kerno.db')}`, // or memory:, postgres://…
  registryKey: 'example only: use a long random secret, e.g. from KERNO_REGISTRY_KEY',
});
kernel.bus.on('AgentFailed', (e) => console.error(e.id, e.error)); // sync handler → unsubscribe
// Nobody is at the dashboard here: approve requests as they come (a human would, in the UI).
kernel.bus.on('ApprovalRequested', (e) => void kernel.approvals.approve(e.id, { by: 'example' }));

const agent = await kernel.spawn({
  name: 'researcher',
  restart: 'transient', // permanent | transient | temporary
  config: { model: 'small' },
  recovery: { max_attempts: 3 }, // self-healing policy (or false)
  run: async (ctx) => {
    ctx.output('searching…');
    const { approved } = await ctx.requestApproval({
      summary: 'Spend $20 on the API?',
      key: 'budget-1',
    });
    if (!approved) return 'skipped';
    await ctx.appendLedger(
      {
        type: 'OutcomeRecorded',
        data: {
          chain_id: 'c1',
          step: 'Planning',
          passed: true,
          stop_reason: null,
          latency_ms: 12,
          tokens: 42,
          cost_microdollars: null,
          backend: 'local',
        },
      },
      { tenantId: 't1' },
    );
    return 'done';
  },
  patch: async (ctx) => ({ config: { ...ctx.config, model: 'large' } }), // used by patch-forward
});
console.log('agent:', (await agent.wait()).result);

const records = await kernel.ledger.query({
  tenantId: 't1',
  kinds: ['OutcomeRecorded'],
  timeRange: { start: '2026-01-01T00:00:00Z' },
  limit: 100,
});
console.log('t1 outcomes:', records.length);
const history = new AbortController();
const follow = kernel.ledger.subscribe({ fromPosition: 0, signal: history.signal });
void follow.caughtUp.then(() => history.abort()); // history only; without abort it goes on live
for await (const rec of follow) console.log('ledger:', rec.envelope.event.type);
console.log('audit ok:', (await kernel.audit.verify()).ok);
await kernel.registry.setConfig('api_token', 'sk-example', { secret: true }); // encrypted at rest
console.log('secret:', (await kernel.registry.getConfig('api_token')) === 'sk-example');
console.log('recall:', kernel.learning.recall('retry flaky tests', { k: 5 }).length);
await kernel.close();
rmSync(home, { recursive: true, force: true });
