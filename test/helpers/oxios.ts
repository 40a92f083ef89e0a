/**
 * oxios data built in tests from the upstream definitions (UPSTREAM.md, the 1.x memory.db schema
 * and the 1.43 access log), independently of kerno's readers.
 */
import { blake3 } from '@noble/hashes/blake3.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import Database from 'better-sqlite3';

/** One oxios trail entry to build: the timestamp as serde writes it and as `to_rfc3339()` does. */
export interface TrailSpec {
  readonly ts: string;
  readonly rfc3339: string;
  readonly actor: string;
  readonly action: unknown;
  readonly resource: string;
  readonly metadata?: unknown;
}

/** An oxios audit export (`audit/trail.json` entries), hashed by oxios's BLAKE3 rule. */
export function oxiosTrail(specs: readonly TrailSpec[]): Record<string, unknown>[] {
  const enc = new TextEncoder();
  let prev = 'genesis';
  return specs.map((e, i) => {
    const seq = i + 1;
    const seqBytes = new Uint8Array(8);
    new DataView(seqBytes.buffer).setBigUint64(0, BigInt(seq));
    const h = blake3.create();
    for (const part of [
      enc.encode('oxios-audit-v1'),
      seqBytes,
      enc.encode(e.rfc3339),
      enc.encode(e.actor),
      enc.encode(JSON.stringify(e.action)),
      enc.encode(prev),
      enc.encode(e.resource),
    ])
      h.update(part);
    const hash = bytesToHex(h.digest());
    const entry = {
      seq,
      timestamp: e.ts,
      actor: e.actor,
      action: structuredClone(e.action),
      resource: e.resource,
      prev_hash: prev,
      hash,
      metadata: structuredClone(e.metadata ?? null),
    };
    prev = hash;
    return entry;
  });
}

/** A three-entry trail with 0, 3 and 9 fractional digits. */
export const TRAIL_SPECS: readonly TrailSpec[] = [
  {
    ts: '2026-05-14T10:00:00Z',
    rfc3339: '2026-05-14T10:00:00+00:00',
    actor: 'system',
    action: { type: 'AgentSpawn', data: { task_type: 'researcher' } },
    resource: 'AgentCreated { id: 67e55044-10b1-426f-9247-bb680e5fe0c8, name: "researcher" }',
  },
  {
    ts: '2026-05-14T10:00:00.123Z',
    rfc3339: '2026-05-14T10:00:00.123+00:00',
    actor: '67e55044-10b1-426f-9247-bb680e5fe0c8',
    action: { type: 'ToolCall', data: { tool: 'search', args_json: '{"q":"kerno"}' } },
    resource: 'tool',
    metadata: { note: 'not hashed by oxios' },
  },
  {
    ts: '2026-05-14T10:00:02.123456789Z',
    rfc3339: '2026-05-14T10:00:02.123456789+00:00',
    actor: 'system',
    action: { type: 'ConfigChange', data: { key: 'api_token' } },
    resource: 'config',
  },
];

/** `audit/access.jsonl` as oxios 1.43's sink writes it: serde JSON per line, `kind` tag, ms. */
export const ACCESS_LINES: readonly Record<string, unknown>[] = [
  {
    kind: 'ToolAccess',
    timestamp: 1778752800000,
    agent: 'agent-1',
    tool: 'exec',
    allowed: false,
    layer: 'rbac',
    reason: null,
  },
  {
    kind: 'PathAccess',
    timestamp: 1778752800123,
    agent: 'agent-1',
    path: '/etc/passwd',
    mode: 'read',
    allowed: false,
    layer: null,
    reason: 'outside workspace',
  },
  {
    kind: 'RbacDecision',
    timestamp: 1778752801000,
    subject: 'user:alice',
    action: 'UseTool(exec)',
    resource: 'exec',
    allowed: true,
    reason: null,
  },
  {
    kind: 'Approval',
    timestamp: 1778752802000,
    approval_id: 'ap-1',
    subject: 'user:alice',
    action: 'exec',
    status: 'approved',
  },
];

/** The upstream DDL of the `patterns` table (oxios-kernel memory/database.rs, RFC-012). */
export const PATTERNS_DDL = `CREATE TABLE IF NOT EXISTS patterns (
    id           TEXT PRIMARY KEY,
    strategy     TEXT NOT NULL,
    domain       TEXT,
    quality      REAL NOT NULL DEFAULT 0.5,
    use_count    INTEGER NOT NULL DEFAULT 0,
    success_rate REAL NOT NULL DEFAULT 0.0,
    is_long_term INTEGER NOT NULL DEFAULT 0,
    embedding    BLOB,
    data         TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
)`;

/** A pattern row as oxios stores it. */
export interface PatternRow {
  id: string;
  strategy: string;
  domain: string | null;
  quality: number;
  use_count: number;
  success_rate: number;
  is_long_term: number;
  embedding: Buffer | null;
  data: string;
  created_at: string;
  updated_at: string;
}

/** `f32`s as 4 little-endian bytes each (oxios's `f32_slice_to_bytes`). */
export function f32le(values: readonly number[]): Buffer {
  const b = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => b.writeFloatLE(v, i * 4));
  return b;
}

export const PATTERN_ROWS: readonly PatternRow[] = [
  {
    id: 'sona-1',
    strategy: 'retry flaky network tests with backoff',
    domain: 'ci',
    quality: 0.85,
    use_count: 4,
    success_rate: 0.75,
    is_long_term: 1,
    embedding: f32le([0.25, -1.5, 3]),
    data: JSON.stringify({ source_trajectories: ['t1', 't2'], confidence: 0.4, support_count: 2 }),
    created_at: '2026-05-01T09:00:00.123456789+00:00',
    updated_at: '2026-05-14T10:00:00.5+00:00',
  },
  {
    id: 'sona-2',
    strategy: 'pin the toolchain version before bisecting',
    domain: null,
    quality: 0.5,
    use_count: 0,
    success_rate: 0,
    is_long_term: 0,
    embedding: null,
    data: JSON.stringify({ embedding_weights: { toolchain: 0.7, bisect: 0.3 } }),
    created_at: '2026-05-02T09:00:00+00:00',
    updated_at: '2026-05-02T09:00:00+00:00',
  },
];

/** Writes a memory.db with the upstream schema (and another table, as oxios has) and `rows`. */
export function writeMemoryDb(file: string, rows: readonly PatternRow[] = PATTERN_ROWS): void {
  const db = new Database(file);
  try {
    db.exec('CREATE TABLE dream_state (key TEXT PRIMARY KEY, value TEXT NOT NULL)');
    db.exec(PATTERNS_DDL);
    const insert = db.prepare(
      `INSERT INTO patterns (id, strategy, domain, quality, use_count, success_rate, is_long_term,
         embedding, data, created_at, updated_at)
       VALUES (@id, @strategy, @domain, @quality, @use_count, @success_rate, @is_long_term,
         @embedding, @data, @created_at, @updated_at)`,
    );
    for (const r of rows) insert.run(r);
  } finally {
    db.close();
  }
}
