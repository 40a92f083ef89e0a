#!/usr/bin/env node
// A durable process agent with no SDK (Node, no dependencies): five steps, each appending a
// line to the file named by DURABLE_STEPS_FILE and then working for a second. Kill the daemon
// at any point: when it comes back the run goes on, and finished steps are not done again
// (docs/agent-protocol.md, "Durable runs").
//
//   DURABLE_STEPS_FILE  where each step appends "<step> <idempotencyKey>" (default ./durable-steps.txt)
//   DURABLE_STEPS       how many steps (default 5)
//   DURABLE_WORK_MS     how long each step works after its side effect (default 1000)
import { appendFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

const file = process.env.DURABLE_STEPS_FILE ?? 'durable-steps.txt';
const steps = Number(process.env.DURABLE_STEPS ?? 5);
const workMs = Number(process.env.DURABLE_WORK_MS ?? 1000);

// One message from the kernel at a time, in order.
const queue = [];
const waiting = [];
createInterface({ input: process.stdin }).on('line', (line) => {
  const message = JSON.parse(line);
  const next = waiting.shift();
  if (next) next(message);
  else queue.push(message);
});
const receive = () =>
  queue.length > 0 ? Promise.resolve(queue.shift()) : new Promise((r) => waiting.push(r));
const send = (message) => process.stdout.write(JSON.stringify(message) + '\n');

const run = await receive(); // {"type":"run","runId","input","attempt"}
process.stderr.write(`run ${run.runId}, execution ${run.attempt}\n`);

const results = [];
for (let i = 1; i <= steps; i++) {
  const key = `step-${i}`;
  send({ type: 'step', key });
  let reply = await receive();
  if (reply.type === 'step.run') {
    // Not recorded yet: do the work, then report its result.
    appendFileSync(file, `${key} ${reply.idempotencyKey}\n`);
    await new Promise((r) => setTimeout(r, workMs));
    send({ type: 'step.result', key, result: { step: i, at: new Date().toISOString() } });
    reply = await receive();
  }
  if (reply.type !== 'step.recorded') throw new Error(`step ${key}: ${JSON.stringify(reply)}`);
  results.push(reply.result);
}
send({ type: 'result', value: { steps: results.length, input: run.input } });
process.exit(0);
