// kerno dashboard: plain ES modules, no build step. Talks to the daemon's API with the bearer
// token (from the URL fragment #token=… on first visit, then localStorage).
const $ = (id) => document.getElementById(id);
const esc = (s) =>
  String(s ?? '').replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c],
  );

const fragment = new URLSearchParams(location.hash.slice(1));
if (fragment.get('token')) {
  localStorage.setItem('kerno.token', fragment.get('token'));
  history.replaceState(null, '', location.pathname);
}
let token = localStorage.getItem('kerno.token') ?? '';

async function api(path, init = {}) {
  const res = await fetch(path, {
    ...init,
    headers: { ...(init.headers ?? {}), authorization: `Bearer ${token}` },
  });
  if (res.status === 401) {
    showTokenForm();
    throw new Error('unauthorized');
  }
  if (!res.ok) {
    let detail = res.statusText;
    try {
      detail = (await res.json()).detail ?? detail;
    } catch {
      // not problem details: keep the status text
    }
    throw new Error(detail);
  }
  return res.headers.get('content-type')?.includes('json') ? res.json() : res.text();
}

function showTokenForm() {
  $('token-form').hidden = false;
  setConn('token needed', 'bad');
}
$('token-form').addEventListener('submit', (e) => {
  e.preventDefault();
  token = $('token-input').value.trim();
  localStorage.setItem('kerno.token', token);
  $('token-form').hidden = true;
  start();
});

function setConn(text, cls) {
  const el = $('conn');
  el.textContent = text;
  el.className = `pill ${cls ?? ''}`;
}

/** Agent ids → names, so events read as "ticker: tick 3" rather than a UUID. */
const agentNames = new Map();

// ── live events ────────────────────────────────────────────────────────────────────────────
const MAX_ROWS = 300;
const perSecond = new Array(60).fill(0);
let total = 0;
let lastId = null;
let streamAbort = null;

function classify(type) {
  if (/Failed|Escalated|Rollback/.test(type)) return 'fail';
  if (/Started|Resolved|Completed|Recalled/.test(type)) return 'ok';
  if (/Approval|Restarted|Recovery/.test(type)) return 'warn';
  return '';
}

function addEvent(id, event) {
  total++;
  perSecond[perSecond.length - 1]++;
  $('stat-events').textContent = total;
  if ($('pause').checked) return;
  const filter = $('filter').value.trim().toLowerCase();
  const text = JSON.stringify(event);
  if (filter && !event.type.toLowerCase().includes(filter) && !text.toLowerCase().includes(filter))
    return;
  const li = document.createElement('li');
  li.className = classify(event.type);
  li.dataset.type = event.type;
  const { type, ...rest } = event;
  const who = agentNames.get(rest.agentId ?? rest.id ?? rest.from ?? rest.moduleId);
  const body = type === 'AgentOutput' ? rest.output : JSON.stringify(rest);
  li.innerHTML = `<span class="muted">#${esc(id)}</span><span class="type">${esc(type)}</span><span>${who ? `<span class="agent">${esc(who)}</span> ` : ''}${esc(body)}</span>`;
  const list = $('timeline');
  list.prepend(li);
  while (list.children.length > MAX_ROWS) list.lastChild.remove();
}

async function follow() {
  streamAbort?.abort();
  streamAbort = new AbortController();
  for (;;) {
    try {
      const headers = { authorization: `Bearer ${token}` };
      if (lastId !== null) headers['last-event-id'] = String(lastId);
      const res = await fetch('/api/events', { headers, signal: streamAbort.signal });
      if (res.status === 401) return showTokenForm();
      setConn('live', 'ok');
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let i;
        while ((i = buf.indexOf('\n\n')) !== -1) {
          const frame = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const id = /^id: (.*)$/m.exec(frame)?.[1];
          const data = /^data: (.*)$/m.exec(frame)?.[1];
          if (id === undefined || data === undefined) continue;
          lastId = Number(id);
          const event = JSON.parse(data);
          addEvent(id, event);
          onEvent(event);
        }
      }
    } catch {
      if (streamAbort.signal.aborted) return;
    }
    setConn('reconnecting…', 'bad');
    await new Promise((r) => setTimeout(r, 2000));
  }
}

// React to events by refreshing the panels they affect (debounced).
const pending = new Set();
let refreshTimer = null;
function onEvent(event) {
  if (event.type === 'AgentCreated') agentNames.set(event.id, event.name);
  if (/^Agent|^Supervisor|^Module|^Recovery/.test(event.type)) pending.add('agents');
  if (/^Approval/.test(event.type)) pending.add('approvals');
  if (/^Memory/.test(event.type) || event.type === 'RecoveryDecided') pending.add('patterns');
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => {
    const todo = [...pending];
    pending.clear();
    if (todo.includes('agents')) loadAgents();
    if (todo.includes('approvals')) loadApprovals();
    if (todo.includes('patterns')) loadPatterns();
  }, 150);
}

function drawRate() {
  const canvas = $('rate');
  const w = (canvas.width = canvas.clientWidth * devicePixelRatio);
  const h = (canvas.height = 60 * devicePixelRatio);
  const ctx = canvas.getContext('2d');
  ctx.clearRect(0, 0, w, h);
  const max = Math.max(1, ...perSecond);
  const bw = w / perSecond.length;
  ctx.fillStyle = '#1f6feb';
  perSecond.forEach((v, i) => {
    const bh = (v / max) * (h - 4);
    ctx.fillRect(i * bw + 1, h - bh, bw - 2, bh);
  });
  ctx.fillStyle = '#7d8794';
  ctx.font = `${11 * devicePixelRatio}px sans-serif`;
  ctx.fillText(`events/s, last 60 s (max ${max})`, 6, 14 * devicePixelRatio);
}
setInterval(() => {
  $('stat-rate').textContent = perSecond[perSecond.length - 1];
  perSecond.shift();
  perSecond.push(0);
  drawRate();
}, 1000);

// ── panels ─────────────────────────────────────────────────────────────────────────────────
async function loadAgents() {
  try {
    const { agents } = await api('/api/agents');
    for (const a of agents) agentNames.set(a.id, a.name);
    $('stat-agents').textContent = agents.length;
    $('agents').innerHTML =
      agents
        .map(
          (
            a,
          ) => `<tr data-agent="${esc(a.name)}"><td>${esc(a.name)}</td><td class="status ${esc(a.status)}">${esc(a.status)}</td><td>${esc(a.restarts)}</td><td class="muted">${esc(a.lastError ?? '')}</td>
          <td>${a.status === 'running' || a.status === 'starting' || a.status === 'idle' ? `<button class="ghost" data-kill="${esc(a.id)}">kill</button>` : ''}</td></tr>`,
        )
        .join('') || '<tr><td colspan="5" class="muted">No agents.</td></tr>';
  } catch (e) {
    if (e.message !== 'unauthorized')
      $('agents').innerHTML = `<tr><td colspan="5" class="muted">${esc(e.message)}</td></tr>`;
  }
}
$('agents').addEventListener('click', async (e) => {
  const id = e.target.dataset?.kill;
  if (!id) return;
  e.target.disabled = true;
  await api(`/api/agents/${encodeURIComponent(id)}`, { method: 'DELETE' }).catch(() => undefined);
  loadAgents();
});

async function loadApprovals() {
  try {
    const { approvals } = await api('/api/approvals');
    $('stat-approvals').textContent = approvals.length;
    $('approvals').innerHTML =
      approvals
        .map(
          (a) => `<div class="approval" data-approval="${esc(a.id)}">
            <div><div class="summary">${esc(a.request.summary)}</div>
            <div class="meta">${esc(a.origin === 'escalation' ? 'escalated by the supervisor' : 'asked by the agent')} · ${esc(a.agentName ?? a.request.agent_id)} · ${esc(a.action)} → ${esc(a.resource)} · requested ${esc(a.request.requested_at)} · times out ${esc(new Date(a.deadlineMs).toISOString())} (${esc(a.request.timeout.action)})${a.escalated ? ' · <b>escalated</b>' : ''}</div>
            ${a.request.rationale ? `<div class="meta">${esc(a.request.rationale)}</div>` : ''}
            ${(a.required ?? 1) > 1 || (a.deciders ?? []).length > 0 ? `<div class="meta">approvals ${esc(String((a.votes ?? []).length))}/${esc(String(a.required ?? 1))}${(a.deciders ?? []).length > 0 ? ` · decided by ${esc(a.deciders.map((d) => `approver:${d}`).join(', '))}` : ''}</div>` : ''}
            ${(a.similar ?? []).length > 0 ? `<div class="meta">similar: ${a.similar.map((s) => `${esc(s.decision)} by ${esc(s.by)} at ${esc(s.at)}${s.reason ? ` (${esc(s.reason)})` : ''}`).join(' · ')}</div>` : ''}</div>
            <div class="actions"><button class="approve" data-approve="${esc(a.id)}">Approve</button><button class="reject" data-reject="${esc(a.id)}">Reject</button></div>
          </div>`,
        )
        .join('') || '<p class="muted">None.</p>';
  } catch (e) {
    if (e.message !== 'unauthorized')
      $('approvals').innerHTML = `<p class="muted">${esc(e.message)}</p>`;
  }
}
$('approvals').addEventListener('click', async (e) => {
  const approve = e.target.dataset?.approve;
  const reject = e.target.dataset?.reject;
  if (!approve && !reject) return;
  for (const b of e.target.parentElement.querySelectorAll('button')) b.disabled = true;
  const reason = reject ? (prompt('Why reject?') ?? '') : undefined;
  const path = approve ? `/api/approvals/${approve}/approve` : `/api/approvals/${reject}/reject`;
  const body = approve
    ? { note: 'dashboard' }
    : { note: 'dashboard', ...(reason ? { reason } : {}) };
  try {
    await api(path, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  } catch (err) {
    alert(err.message);
  }
  loadApprovals();
});

async function verifyChain() {
  $('chain').textContent = 'verifying…';
  try {
    const r = await api('/api/audit/verify');
    $('chain').innerHTML = r.ok
      ? `<span class="ok">✓ verified</span> up to seq <b>${esc(r.head.seq)}</b><br><span class="muted">head</span> ${esc(r.head.hash)}`
      : `<span class="bad">✗ broken</span> at seq <b>${esc(r.seq)}</b>: ${esc(r.message)}`;
  } catch (e) {
    $('chain').textContent = e.message;
  }
}
$('verify-btn').addEventListener('click', verifyChain);

async function loadLedger(form) {
  const q = new URLSearchParams();
  for (const [k, v] of new FormData(form)) if (String(v).trim()) q.set(k, String(v).trim());
  try {
    const { records } = await api(`/api/ledger?${q}`);
    $('ledger').innerHTML =
      records
        .slice()
        .reverse()
        .map(
          (r) =>
            `<tr><td>${esc(r.position)}</td><td>${esc(r.envelope.occurred_at)}</td><td>${esc(r.envelope.event.type)}</td><td>${esc(r.envelope.tenant_id ?? '')}</td><td class="muted">${esc(r.envelope.correlation_id ?? '')}</td></tr>`,
        )
        .join('') || '<tr><td colspan="5" class="muted">No records.</td></tr>';
  } catch (e) {
    $('ledger').innerHTML = `<tr><td colspan="5" class="muted">${esc(e.message)}</td></tr>`;
  }
}
$('ledger-form').addEventListener('submit', (e) => {
  e.preventDefault();
  loadLedger(e.target);
});

async function loadPatterns() {
  try {
    const { patterns } = await api('/api/learning/patterns?limit=50');
    $('patterns').innerHTML =
      patterns
        .slice()
        .reverse()
        .map(
          (p) =>
            `<tr><td>${esc(p.domain)}</td><td>${esc(p.strategy)}</td><td>${(p.success_rate * 100).toFixed(0)}%</td><td>${Number(p.quality).toFixed(2)}</td><td>${esc(p.use_count)}</td></tr>`,
        )
        .join('') || '<tr><td colspan="5" class="muted">Nothing learned yet.</td></tr>';
  } catch (e) {
    $('patterns').innerHTML = `<tr><td colspan="5" class="muted">${esc(e.message)}</td></tr>`;
  }
}

async function start() {
  if (!token) return showTokenForm();
  try {
    const health = await fetch('/health').then((r) => r.json());
    $('version').textContent = `v${health.version} · ${health.store}`;
  } catch {
    // the header just stays without a version
  }
  follow();
  loadAgents();
  loadApprovals();
  verifyChain();
  loadLedger($('ledger-form'));
  loadPatterns();
  setInterval(loadAgents, 5000);
  setInterval(loadApprovals, 5000);
  setInterval(verifyChain, 30000);
}
start();
