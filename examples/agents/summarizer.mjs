#!/usr/bin/env node
// A process agent: any program that speaks JSON lines on stdio can be supervised by kerno
// (see docs/agent-protocol.md). This one "summarises" a document in a few steps, records the
// outcome in the experience ledger, and exits 0.
const send = (m) => process.stdout.write(JSON.stringify(m) + '\n');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const config = JSON.parse(process.env.KERNO_AGENT_CONFIG ?? '{}');
const topic = config.topic ?? 'quarterly report';

for (const step of ['reading', 'extracting key points', 'drafting summary']) {
  send({ type: 'output', text: `${step}: ${topic}` });
  send({ type: 'heartbeat' });
  await sleep(300);
}
send({
  type: 'ledger',
  event: {
    type: 'OutcomeRecorded',
    data: {
      chain_id: `summary-${process.env.KERNO_AGENT_ID}`,
      step: 'Reasoning',
      passed: true,
      stop_reason: null,
      latency_ms: 900,
      tokens: 1337,
      cost_microdollars: 420,
      backend: 'demo-llm',
    },
  },
});
send({ type: 'result', value: { summary: `The ${topic} in three sentences.` } });
