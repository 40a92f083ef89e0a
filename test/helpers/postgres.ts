/**
 * PostgreSQL for tests: one URL (env `KERNO_TEST_PG_URL`), a probe run once, and a fresh schema
 * per test so runs never collide. When the server is unreachable the PostgreSQL tests are
 * skipped with a message — unless `KERNO_REQUIRE_SERVICES=1`, where that fails the run.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { PgModule } from '../../src/storage/postgres/postgres-connection.js';

/** The test server. */
export const PG_TEST_URL =
  process.env['KERNO_TEST_PG_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';

/** The driver, typed as the backend sees it (this assignment checks `pg` fits the port). */
export const pgDriver: PgModule = pg;

async function probe(): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: PG_TEST_URL, connectionTimeoutMillis: 3000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SELECT 1');
    return undefined;
  } catch (error) {
    return (error as Error).message;
  } finally {
    await client.end().catch(() => undefined);
  }
}

const problem = await probe();
if (problem !== undefined) {
  const message = `PostgreSQL is unreachable at ${PG_TEST_URL} (${problem})`;
  if (process.env['KERNO_REQUIRE_SERVICES'] === '1') {
    throw new Error(`${message}; KERNO_REQUIRE_SERVICES=1 requires it`);
  }
  console.warn(
    `${message}: skipping the PostgreSQL tests (set KERNO_TEST_PG_URL, or KERNO_REQUIRE_SERVICES=1 to fail instead)`,
  );
}

/** Whether the PostgreSQL tests run. */
export const pgAvailable = problem === undefined;
/** Why they do not (for `describe.skipIf` titles). */
export const pgSkipReason =
  problem === undefined ? '' : ` (skipped: PostgreSQL unreachable at ${PG_TEST_URL})`;

/** A new schema name, unique to this test. */
export function freshSchema(prefix = 'kerno_test'): string {
  return `${prefix}_${process.pid}_${randomBytes(4).toString('hex')}`;
}

/** The test URL pointed at `schema`, with extra query parameters. */
export function pgUrl(schema: string, params: Record<string, string> = {}): string {
  const url = new URL(PG_TEST_URL);
  url.searchParams.set('schema', schema);
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  return url.toString();
}

/** Runs one statement on a short-lived admin connection. */
export async function adminQuery<R = Record<string, unknown>>(
  text: string,
  values: unknown[] = [],
): Promise<R[]> {
  const client = new pg.Client({ connectionString: PG_TEST_URL });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return (await client.query(text, values)).rows as R[];
  } finally {
    await client.end();
  }
}

/** Drops a test schema and everything in it. */
export async function dropSchema(schema: string): Promise<void> {
  await adminQuery(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
}

/** Kills every server connection whose application_name starts with `prefix`; answers how many. */
export async function killConnections(prefix: string): Promise<number> {
  const rows = await adminQuery<{ n: number }>(
    'SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity ' +
      'WHERE application_name LIKE $1 AND pid <> pg_backend_pid()',
    [`${prefix.replace(/[\\%_]/g, '\\$&')}%`],
  );
  return rows[0]?.n ?? 0;
}
