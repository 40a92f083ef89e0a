#!/usr/bin/env node
// A process agent: any program that speaks JSON lines on stdio can be supervised by kerno
// (see docs/agent-protocol.md). This one "summarises" a document in a few steps, records the
// outcome in the experience ledger, and exits 0. With `documents` in its config it keeps
// working: one document after another, `everyMs` apart, until it is stopped (SIGTERM).
const send = (m) => process.stdout.write(JSON.stringify(m) + '\n');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const config = JSON.parse(process.env.KERNO_AGENT_CONFIG ?? '{}');
const stepMs = config.stepMs ?? 300;

async function summarise(topic, n) {
  for (const step of ['reading', 'extracting key points', 'drafting summary']) {
    send({ type: 'output', text: `${step}: ${topic}` });
    send({ type: 'heartbeat' });
    await sleep(stepMs);
  }
  send({
    type: 'ledger',
    event: {
      type: 'OutcomeRecorded',
      data: {
        chain_id: `summary-${process.env.KERNO_AGENT_ID}-${n}`,
        step: 'Reasoning',
        passed: true,
        stop_reason: null,
        latency_ms: stepMs * 3,
        tokens: 1337,
        cost_microdollars: 420,
        backend: 'demo-llm',
      },
    },
  });
  return { summary: `The ${topic} in three sentences.` };
}

if (Array.isArray(config.documents) && config.documents.length > 0) {
  process.once('SIGTERM', () => process.exit(0));
  for (let n = 1; ; n++) {
    const topic = config.documents[(n - 1) % config.documents.length];
    const { summary } = await summarise(topic, n);
    send({ type: 'output', text: `summary ${n} done: ${summary}` });
    await sleep(config.everyMs ?? 5000);
  }
} else {
  send({ type: 'result', value: await summarise(config.topic ?? 'quarterly report', 1) });
}
