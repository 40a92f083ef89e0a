// The kerno dashboard: a small single-page app (Preact, hash routes), built by Vite into
// dist/web/ and served by the daemon. Every agent-controlled string is rendered as text by
// Preact; nothing here builds HTML from strings.
import './style.css';
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { adoptTokenFromFragment, api, getToken, onTokenProblem, setToken } from './api.js';
import { href, useLiveTick, useRoute } from './hooks.js';
import { connection, restartLive, startLive } from './live.js';
import { AgentPage, AgentsPage } from './pages/agents.js';
import { ApprovalsPage } from './pages/approvals.js';
import { EventsPage } from './pages/events.js';
import { AuditPage, LearningPage, LedgerPage } from './pages/records.js';
import { OverviewPage } from './pages/overview.js';
import { PoliciesPage } from './pages/policies.js';
import { RunPage, RunsPage } from './pages/runs.js';

const NAV: readonly { path: string; label: string }[] = [
  { path: '/', label: 'Overview' },
  { path: '/runs', label: 'Runs' },
  { path: '/agents', label: 'Agents' },
  { path: '/approvals', label: 'Approvals' },
  { path: '/policies', label: 'Policies' },
  { path: '/events', label: 'Events' },
  { path: '/ledger', label: 'Ledger' },
  { path: '/audit', label: 'Audit' },
  { path: '/learning', label: 'Learning' },
];

const CONNECTION_WORDS = {
  connecting: 'connecting…',
  live: 'live',
  reconnecting: 'reconnecting…',
  token: 'token needed',
} as const;

function TokenForm({ onSaved }: { onSaved: () => void }) {
  const [value, setValue] = useState('');
  return (
    <form
      class="token-form"
      onSubmit={(e) => {
        e.preventDefault();
        setToken(value.trim());
        onSaved();
      }}
    >
      <label for="token-input">API token</label>
      <input
        id="token-input"
        type="password"
        autocomplete="off"
        placeholder="see .kerno/token, or kerno tokens create"
        value={value}
        onInput={(e) => setValue(e.currentTarget.value)}
      />
      <button type="submit">Connect</button>
    </form>
  );
}

function Page() {
  const route = useRoute();
  const [a, b] = route.parts;
  if (a === undefined) return <OverviewPage />;
  if (a === 'runs') return b === undefined ? <RunsPage route={route} /> : <RunPage id={b} />;
  if (a === 'agents') return b === undefined ? <AgentsPage /> : <AgentPage id={b} />;
  if (a === 'approvals') return <ApprovalsPage />;
  if (a === 'policies') return <PoliciesPage />;
  if (a === 'events') return <EventsPage route={route} />;
  if (a === 'ledger') return <LedgerPage />;
  if (a === 'audit') return <AuditPage />;
  if (a === 'learning') return <LearningPage />;
  return (
    <section class="card">
      <h1>Not found</h1>
      <p>
        There is no page <code>{route.path}</code>. <a href="#/">Go to the overview</a>.
      </p>
    </section>
  );
}

function App() {
  const route = useRoute();
  useLiveTick(undefined, 500);
  const [needToken, setNeedToken] = useState(getToken() === '');
  const [version, setVersion] = useState('');
  const [pending, setPending] = useState<number | undefined>(undefined);
  useEffect(
    () =>
      onTokenProblem(() => {
        setNeedToken(getToken() === '' || connection() === 'token');
      }),
    [],
  );
  useEffect(() => {
    if (needToken) return;
    startLive();
    fetch('/health')
      .then((r) => r.json() as Promise<{ version?: string; store?: string }>)
      .then((h) => setVersion(`v${h.version ?? '?'} · ${h.store ?? ''}`))
      .catch(() => undefined);
  }, [needToken]);
  const approvalsTick = useLiveTick((e) => e.event.type.startsWith('Approval'), 300);
  useEffect(() => {
    if (needToken) return;
    api<{ approvals: unknown[] }>('/api/approvals')
      .then((r) => setPending(r.approvals.length))
      .catch(() => undefined);
  }, [approvalsTick, needToken]);
  const conn = connection();
  const showToken = needToken || conn === 'token';
  const section = `/${route.parts[0] ?? ''}`;
  return (
    <>
      <a
        class="skip"
        href="#main"
        onClick={(e) => {
          e.preventDefault();
          document.getElementById('main')?.focus();
        }}
      >
        Skip to content
      </a>
      <header class="top">
        <div class="brand">
          kerno <span class="muted small">{version}</span>
        </div>
        <nav aria-label="Pages">
          <ul>
            {NAV.map((n) => (
              <li key={n.path}>
                <a
                  href={href(n.path)}
                  aria-current={section === n.path ? 'page' : undefined}
                  data-nav={n.label.toLowerCase()}
                >
                  {n.label}
                  {n.path === '/approvals' && pending !== undefined && pending > 0 ? (
                    <span class="badge" aria-label={`${String(pending)} pending`}>
                      {pending}
                    </span>
                  ) : null}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <span id="conn" class={`pill ${conn === 'live' ? 'ok' : 'bad'}`} aria-live="polite">
          {CONNECTION_WORDS[conn]}
        </span>
      </header>
      {showToken ? (
        <TokenForm
          onSaved={() => {
            setNeedToken(false);
            restartLive();
          }}
        />
      ) : null}
      <main id="main" tabIndex={-1}>
        {showToken ? null : <Page />}
      </main>
    </>
  );
}

adoptTokenFromFragment();
const root = document.getElementById('app');
if (root !== null) {
  root.textContent = '';
  render(<App />, root);
}
