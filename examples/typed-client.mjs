/* eslint-disable no-console -- an example program: its output is the point */
// Talk to a running daemon (`kerno up`) with the typed client: it runs wherever fetch does.
import { createClient, isKernoApiError } from 'kerno/client';

const kerno = createClient({
  baseUrl: process.env.KERNO_URL ?? 'http://127.0.0.1:7420',
  token: process.env.KERNO_TOKEN, // <state>/token, or one `kerno tokens create` printed
});

// One typed method per route: kerno.runs.start(), kerno.ledger.append(), kerno.config.get() …
await kerno.ledger.append({
  event: {
    type: 'BudgetExceeded',
    data: { chain_id: 'c1', resource: 'Tokens', limit: '1000', observed: null },
  },
});
console.log('records of c1:', (await kerno.ledger.query({ chain: 'c1' })).length);

// Failures are KernoApiErrors with kerno's error codes (the problem the daemon answered).
try {
  await kerno.runs.get('no-such-run');
} catch (error) {
  if (!isKernoApiError(error, 'NOT_FOUND')) throw error;
  console.log(`${error.status} ${error.code}: ${error.detail}`);
}

// The live event feed: after a dropped connection it reconnects and resumes after the last
// recorded event it gave you (Last-Event-ID), so none of those is lost or seen twice (run
// steps' events, `live: true`, come only while connected).
const stop = new AbortController();
for await (const event of kerno.events.stream({
  types: ['ApprovalRequested'],
  signal: stop.signal,
})) {
  const decision = await kerno.approvals.approve(event.data.id, {
    note: 'approved by the example',
  });
  console.log(`approved ${decision.id} as ${decision.decidedBy}`);
  stop.abort();
}
