/* eslint-disable no-console -- an example program: its output is the point */
// A durable run you can kill: `node examples/durable-run.mjs`, press Ctrl-C (or kill -9) while
// it works, run it again — finished steps are not done again; the run goes on where it stopped.
import { createKernel } from 'kerno';

const kernel = await createKernel({
  store: 'sqlite:.kerno-example/kerno.db',
  stateDir: '.kerno-example',
  define: [
    {
      name: 'report',
      version: '1',
      run: async (ctx, input) => {
        const sources = await ctx.step('search', () => {
          console.log(`searching for ${input.topic}…`);
          return ['a.example', 'b.example'];
        });
        await ctx.sleep(3000); // durable: survives a restart
        const notes = await ctx.step('read', ({ idempotencyKey }) => {
          console.log(`reading ${sources.length} sources (key ${idempotencyKey})…`);
          return sources.map((s) => `notes from ${s}`);
        });
        await ctx.sleep(3000);
        return ctx.step('write', () => {
          console.log('writing the report…');
          return { topic: input.topic, lines: notes.length };
        });
      },
    },
  ],
});

// The same id every time: the first start creates the run, later ones find it (resumed above).
const run = await kernel.start('report', { topic: 'durable agents' }, { id: 'report-1' });
console.log('result:', await run.result());
console.log('steps:', (await kernel.runs.get(run.id)).steps.map((s) => s.key).join(', '));
await kernel.close();
