// Overview: the headline numbers and the charts people look at first.
import { api } from '../api.js';
import { agentStatusWord, count, money } from '../format.js';
import { href, useLiveTick, useLoad } from '../hooks.js';
import { events, rate, totalEvents, type LiveEvent } from '../live.js';
import type { Agent, Approval, RunDetail, RunSummary } from '../types.js';
import { BarChart, TimeChart } from '../ui/chart.js';
import { Checked } from '../ui/parts.js';
import { usage } from './runs.js';

const BUCKET_S = 10;
const BUCKETS = 36;

/** Failures, recoveries and restarts per 10 s over the last 6 minutes of kept events. */
function healthSeries(list: readonly LiveEvent[], nowSec: number) {
  const start = Math.floor(nowSec / BUCKET_S) * BUCKET_S - (BUCKETS - 1) * BUCKET_S;
  const xs = Array.from({ length: BUCKETS }, (_v, i) => start + i * BUCKET_S);
  const failures = new Array<number>(BUCKETS).fill(0);
  const recoveries = new Array<number>(BUCKETS).fill(0);
  for (const e of list) {
    const i = Math.floor((e.atMs / 1000 - start) / BUCKET_S);
    if (i < 0 || i >= BUCKETS) continue;
    if (e.event.type === 'AgentFailed') failures[i]!++;
    else if (e.event.type === 'AgentRestarted' || e.event.type === 'RecoveryDecided')
      recoveries[i]!++;
  }
  return { xs, failures, recoveries };
}

async function costs(): Promise<{ agents: string[]; values: number[]; unit: 'usd' | 'tokens' }> {
  const { runs } = await api<{ runs: RunSummary[] }>('/api/runs?limit=100');
  const withFigures = runs.some(
    (r) => r.costUsd !== undefined || r.tokens !== undefined || r.cost !== undefined,
  );
  const details: (RunSummary & { steps?: RunDetail['steps'] })[] = withFigures
    ? runs
    : await Promise.all(
        runs
          .slice(0, 20)
          .map((r) => api<RunDetail>(`/api/runs/${encodeURIComponent(r.id)}`).catch(() => r)),
      );
  const usd = new Map<string, number>();
  const tokens = new Map<string, number>();
  for (const r of details) {
    const u = usage(r);
    if (u.cost !== undefined) usd.set(r.agent, (usd.get(r.agent) ?? 0) + u.cost);
    if (u.tokens !== undefined) tokens.set(r.agent, (tokens.get(r.agent) ?? 0) + u.tokens);
  }
  const spent = [...usd.values()].some((v) => v > 0);
  const use = spent ? usd : tokens;
  const agents = [...use.keys()].sort();
  return {
    agents,
    values: agents.map((a) => use.get(a) ?? 0),
    unit: spent ? 'usd' : 'tokens',
  };
}

export function OverviewPage() {
  useLiveTick(undefined, 1000);
  const agents = useLoad(() => api<{ agents: Agent[] }>('/api/agents'), [], {
    everyMs: 5000,
    refreshOn: (e) => /^(Agent|Recovery)/.test(e.event.type),
  });
  const approvals = useLoad(() => api<{ approvals: Approval[] }>('/api/approvals'), [], {
    everyMs: 5000,
    refreshOn: (e) => e.event.type.startsWith('Approval'),
  });
  const runs = useLoad(() => api<{ runs: RunSummary[] }>('/api/runs?limit=500'), [], {
    everyMs: 5000,
  });
  const cost = useLoad(costs, [], { everyMs: 15000 });
  const r = rate();
  const xs = r.counts.map((_c, i) => r.startSec + i);
  const last10 = r.counts.slice(-11, -1);
  const perSec = last10.reduce((a, b) => a + b, 0) / Math.max(1, last10.length);
  const health = healthSeries(events(), Math.floor(Date.now() / 1000));
  const words = new Map<string, number>();
  for (const a of agents.data?.agents ?? []) {
    const w = agentStatusWord(a);
    words.set(w, (words.get(w) ?? 0) + 1);
  }
  const runWords = new Map<string, number>();
  for (const x of runs.data?.runs ?? []) runWords.set(x.status, (runWords.get(x.status) ?? 0) + 1);
  const pending = approvals.data?.approvals.length;
  return (
    <>
      <section class="stats" aria-label="Headline numbers">
        <a class="stat" href={href('/agents')}>
          <b id="stat-agents">{agents.data?.agents.length ?? '–'}</b> agents
          <span class="muted small">
            {[...words].map(([w, c]) => `${String(c)} ${w}`).join(', ')}
          </span>
        </a>
        <a class={`stat ${pending ? 'attention' : ''}`} href={href('/approvals')}>
          <b id="stat-approvals">{pending ?? '–'}</b> waiting for approval
        </a>
        <a class="stat" href={href('/runs')}>
          <b id="stat-runs">{runs.data?.runs.length ?? '–'}</b> runs
          <span class="muted small">
            {[...runWords].map(([w, c]) => `${String(c)} ${w}`).join(', ')}
          </span>
        </a>
        <a class="stat" href={href('/events')}>
          <b id="stat-events">{count(totalEvents())}</b> events
          <span class="muted small">{perSec.toFixed(1)}/s over the last 10 s</span>
        </a>
      </section>
      <section class="card charts">
        <div class="title-row">
          <h2>Activity</h2>
          <Checked at={agents.checkedAt} error={agents.error} />
        </div>
        <div class="chart-grid">
          <TimeChart
            title="Events per second, last 2 minutes"
            xs={xs}
            series={[{ label: 'events/s', color: '#4c8dff', values: r.counts }]}
            bars
          />
          <TimeChart
            title="Failures and recoveries per 10 s, last 6 minutes"
            xs={health.xs}
            series={[
              { label: 'failures', color: '#f85149', values: health.failures },
              { label: 'recovery steps', color: '#3fb950', values: health.recoveries },
            ]}
          />
          {cost.data !== undefined && cost.data.agents.length > 0 ? (
            <BarChart
              title={
                cost.data.unit === 'usd'
                  ? 'Cost per agent (recent runs)'
                  : 'Tokens per agent (recent runs)'
              }
              names={cost.data.agents}
              values={cost.data.values}
              color="#d29922"
              format={cost.data.unit === 'usd' ? (v) => money(v) : (v) => count(Math.round(v))}
            />
          ) : (
            <figure class="chart">
              <figcaption>Cost per agent</figcaption>
              <p class="muted">No run has reported tokens or cost yet.</p>
            </figure>
          )}
        </div>
      </section>
    </>
  );
}
