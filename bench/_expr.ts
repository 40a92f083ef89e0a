import { rmSync } from 'node:fs';
import { createKernel } from '../src/index.js';
import { openStorage } from '../src/storage/open-storage.js';
const dir = '/tmp/exp/runs'; rmSync(dir, { recursive: true, force: true });
const mode = (process.argv[2] ?? 'thread') as 'thread' | 'inline';
const kernel = await createKernel({ store: await openStorage(`sqlite:${dir}/k.db`, { sqliteWriter: mode }), bus: 'memory', stateDir: dir + '/home' });
kernel.define({ name: 'three', version: '1', run: async (ctx, input: { i: number }) => {
  await ctx.step('a', async () => ({ i: input.i, v: 'a' }));
  await ctx.step('b', async () => ({ i: input.i, v: 'b' }));
  return ctx.step('c', async () => ({ i: input.i, v: 'c' }));
} });
async function load(conc: number, runs: number) {
  let next = 0; const t0 = performance.now();
  await Promise.all(Array.from({ length: conc }, async () => { while (next < runs) { const i = next++; const r = await kernel.start('three', { i }); await r.result(); } }));
  return (runs * 3) / (performance.now() - t0) * 1000;
}
await load(16, 160);
for (let r = 0; r < 2; r++) console.log(mode, '64 conc', (await load(64, 3200)).toFixed(0), 'steps/s', ' seq', (await load(1, 150)).toFixed(0), 'steps/s');
await kernel.close();
