// Ledger, audit and learning: live (re-read every few seconds and when related events arrive),
// each saying when it was last checked.
import { Fragment } from 'preact';
import { useState } from 'preact/hooks';
import { api, withQuery } from '../api.js';
import { localTime, oneLine } from '../format.js';
import { useLoad } from '../hooks.js';
import type { AuditEntry, LedgerRecord, Pattern } from '../types.js';
import { Checked, Empty, Expand } from '../ui/parts.js';

export function LedgerPage() {
  const [draft, setDraft] = useState({ tenant: '', kinds: '', chain: '', limit: '50' });
  const [query, setQuery] = useState(draft);
  const list = useLoad(
    () =>
      api<{ records: LedgerRecord[] }>(
        withQuery('/api/ledger', {
          tenant: query.tenant.trim(),
          kinds: query.kinds.trim(),
          chain: query.chain.trim(),
          limit: query.limit,
        }),
      ),
    [JSON.stringify(query)],
    { everyMs: 5000 },
  );
  const records = (list.data?.records ?? []).slice().reverse();
  const set = (k: keyof typeof draft) => (e: Event) =>
    setDraft({ ...draft, [k]: (e.currentTarget as HTMLInputElement).value });
  return (
    <section class="card">
      <div class="title-row">
        <h1>Experience ledger</h1>
        <Checked at={list.checkedAt} error={list.error} onRefresh={list.reload} />
      </div>
      <form
        class="filters"
        onSubmit={(e) => {
          e.preventDefault();
          setQuery(draft);
        }}
      >
        <label>
          Tenant <input name="tenant" value={draft.tenant} onInput={set('tenant')} />
        </label>
        <label>
          Kinds{' '}
          <input
            name="kinds"
            value={draft.kinds}
            onInput={set('kinds')}
            placeholder="comma-separated"
          />
        </label>
        <label>
          Chain{' '}
          <input name="chain" value={draft.chain} onInput={set('chain')} placeholder="chain id" />
        </label>
        <label>
          Limit{' '}
          <input
            name="limit"
            type="number"
            min="1"
            max="1000"
            value={draft.limit}
            onInput={set('limit')}
          />
        </label>
        <div class="buttons">
          <button type="submit">Query</button>
        </div>
      </form>
      {records.length === 0 && list.data !== undefined ? <Empty>No records match.</Empty> : null}
      <div class="table-wrap">
        <table>
          <thead>
            <tr>
              <th>#</th>
              <th>When</th>
              <th>Kind</th>
              <th>Tenant</th>
              <th>Record</th>
            </tr>
          </thead>
          <tbody>
            {records.map((r) => (
              <tr key={r.position}>
                <td class="num">{r.position}</td>
                <td>{localTime(r.envelope.occurred_at)}</td>
                <td class="name">{r.envelope.event.type}</td>
                <td>{r.envelope.tenant_id ?? '–'}</td>
                <td>
                  <Expand summary={oneLine(r.envelope.event, 80)} value={r.envelope} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

interface Verify {
  readonly ok: boolean;
  readonly head?: { readonly seq: number; readonly hash: string };
  readonly seq?: number;
  readonly message?: string;
}

export function AuditPage() {
  const verify = useLoad(() => api<Verify>('/api/audit/verify'), [], { everyMs: 10000 });
  const recent = useLoad(
    () => api<{ entries: AuditEntry[] }>(withQuery('/api/audit', { limit: 50 })),
    [],
    { everyMs: 5000 },
  );
  const v = verify.data;
  const entries = (recent.data?.entries ?? []).slice().reverse();
  return (
    <>
      <section class="card">
        <div class="title-row">
          <h1>Audit trail</h1>
          <Checked at={verify.checkedAt} error={verify.error} onRefresh={verify.reload} />
        </div>
        <div id="chain" class="chain">
          {v === undefined ? (
            <span class="muted">verifying…</span>
          ) : v.ok ? (
            <p>
              <span class="ok">✓ The hash chain verifies</span> up to entry <b>{v.head?.seq}</b>.{' '}
              <span class="muted mono break">head {v.head?.hash}</span>
            </p>
          ) : (
            <p class="bad">
              ✗ The chain is broken at entry <b>{v.seq}</b>: {v.message}. Run{' '}
              <code>kerno audit verify</code> for the repair steps.
            </p>
          )}
        </div>
      </section>
      <section class="card">
        <div class="title-row">
          <h2>Latest entries</h2>
          <Checked at={recent.checkedAt} error={recent.error} />
        </div>
        <div class="table-wrap">
          <table>
            <thead>
              <tr>
                <th>#</th>
                <th>When</th>
                <th>Actor</th>
                <th>Action</th>
                <th>Detail</th>
              </tr>
            </thead>
            <tbody>
              {entries.map((e) => (
                <tr key={e.seq}>
                  <td class="num">{e.seq}</td>
                  <td>{localTime(e.timestamp)}</td>
                  <td class="name">{e.actor}</td>
                  <td>{e.action.type}</td>
                  <td>
                    <Expand summary={oneLine(e.resource, 60)} value={e} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </section>
    </>
  );
}

export function LearningPage() {
  const stats = useLoad(() => api<Record<string, unknown>>('/api/learning/stats'), [], {
    everyMs: 10000,
    refreshOn: (e) => e.event.type.startsWith('Memory') || e.event.type === 'RecoveryDecided',
  });
  const patterns = useLoad(
    () => api<{ total: number; patterns: Pattern[] }>('/api/learning/patterns?limit=100'),
    [],
    {
      everyMs: 10000,
      refreshOn: (e) => e.event.type.startsWith('Memory') || e.event.type === 'RecoveryDecided',
    },
  );
  const list = (patterns.data?.patterns ?? []).slice().reverse();
  const s = stats.data ?? {};
  return (
    <>
      <section class="card">
        <div class="title-row">
          <h1>Learning</h1>
          <Checked
            at={patterns.checkedAt}
            error={patterns.error ?? stats.error}
            onRefresh={patterns.reload}
          />
        </div>
        <dl class="facts">
          {Object.entries(s)
            .filter(([, v]) => typeof v === 'number' || typeof v === 'string')
            .map(([k, v]) => (
              <Fragment key={k}>
                <dt>{k.replace(/_/g, ' ')}</dt>
                <dd>{String(v)}</dd>
              </Fragment>
            ))}
        </dl>
      </section>
      <section class="card">
        <h2>Learned patterns ({patterns.data?.total ?? 0})</h2>
        {list.length === 0 && patterns.data !== undefined ? (
          <Empty>Nothing learned yet.</Empty>
        ) : null}
        <div class="table-wrap">
          <table id="patterns">
            <thead>
              <tr>
                <th>Domain</th>
                <th>Strategy</th>
                <th class="num">Success</th>
                <th class="num">Quality</th>
                <th class="num">Uses</th>
              </tr>
            </thead>
            <tbody>
              {list.map((p, i) => (
                <tr key={p.id ?? String(i)}>
                  <td class="name">{p.domain}</td>
                  <td>
                    <Expand summary={oneLine(p.strategy, 80)} value={p} />
                  </td>
                  <td class="num">{(p.success_rate * 100).toFixed(0)}%</td>
                  <td class="num">{Number(p.quality).toFixed(2)}</td>
                  <td class="num">{p.use_count}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </section>
    </>
  );
}
