/**
 * What the PostgreSQL backend needs from the `pg` driver (a structural subset, so kerno's types
 * never depend on `@types/pg`), how a `postgres://` URL becomes connection settings, and the one
 * place driver errors become `KernelError`s.
 *
 * @module
 */
import { KernelError, errorMessage, isKernelError } from '../../errors.js';

/** A query in the form the driver takes it. */
export interface PgQueryConfig {
  readonly text: string;
  readonly values?: readonly unknown[];
  /** Rows as arrays in select order (cheaper than objects). */
  readonly rowMode?: 'array';
  /** Prepares the statement once per connection under this name. */
  readonly name?: string;
}

/** What a query answers. */
export interface PgResult {
  readonly rows: unknown[];
  readonly rowCount: number | null;
}

/** A LISTEN notification. */
export interface PgNotification {
  readonly processId: number;
  readonly channel: string;
  readonly payload?: string | undefined;
}

/** One connection (`pg.Client`). */
export interface PgClient {
  connect(): Promise<unknown>;
  query(query: PgQueryConfig): Promise<PgResult>;
  end(): Promise<void>;
  on(event: 'error', listener: (error: Error) => void): unknown;
  on(event: 'end', listener: () => void): unknown;
  on(event: 'notification', listener: (message: PgNotification) => void): unknown;
}

/** A connection lent by a pool. */
export interface PgPoolClient {
  query(query: PgQueryConfig): Promise<PgResult>;
  /** Returns the connection; `true` or an error destroys it instead. */
  release(destroy?: boolean | Error): void;
}

/** A pool of connections (`pg.Pool`). */
export interface PgPool {
  connect(): Promise<PgPoolClient>;
  query(query: PgQueryConfig): Promise<PgResult>;
  end(): Promise<void>;
  on(event: 'error', listener: (error: Error) => void): unknown;
}

/** How a value of one type is parsed. */
export interface PgTypeParsers {
  getTypeParser(oid: number, format?: string): (value: string) => unknown;
}

/** Connection settings the driver accepts (a subset of `pg.ClientConfig`). */
export interface PgClientConfig {
  connectionString?: string;
  application_name?: string;
  options?: string;
  types?: PgTypeParsers;
  connectionTimeoutMillis?: number;
  keepAlive?: boolean;
}

/** Pool settings (a subset of `pg.PoolConfig`). */
export interface PgPoolConfig extends PgClientConfig {
  max?: number;
  idleTimeoutMillis?: number;
  allowExitOnIdle?: boolean;
}

/** The parts of the `pg` module kerno uses. Inject your own (e.g. a patched build) if needed. */
export interface PgModule {
  readonly Client: new (config: PgClientConfig) => PgClient;
  readonly Pool: new (config: PgPoolConfig) => PgPool;
  readonly types: PgTypeParsers;
}

/** Loads the optional `pg` peer dependency, or explains how to install it. */
export async function loadPg(): Promise<PgModule> {
  try {
    const mod = (await import('pg')) as unknown as { default?: PgModule } & Partial<PgModule>;
    return mod.default ?? (mod as PgModule);
  } catch (error) {
    throw new KernelError(
      'STORAGE_ERROR',
      'PostgreSQL storage needs the "pg" package; install it next to kerno (npm install pg)',
      { cause: error },
    );
  }
}

/** The schema used when the URL names none. */
export const DEFAULT_SCHEMA = 'kerno';

const SCHEMA_RE = /^[a-z_][a-z0-9_]{0,47}$/;

/** A `postgres://` URL taken apart. */
export interface PostgresLocation {
  /** The URL handed to the driver (kerno's own parameters removed). */
  readonly connectionString: string;
  /** The URL without credentials, for messages and `Storage.url`. */
  readonly displayUrl: string;
  /** The schema every table lives in. */
  readonly schema: string;
  /** `application_name` of kerno's connections (roles are appended: `…/writer`). */
  readonly applicationName: string;
  /** Server options from the URL's `options` parameter, if any. */
  readonly serverOptions: string | undefined;
}

/**
 * Parses `postgres://user:pass@host:port/db?schema=name&application_name=app`. `schema`
 * (default `kerno`) is created if missing and holds every table; it must be a lower-case SQL
 * identifier. Other parameters (`sslmode`, …) go to the driver.
 */
export function parsePostgresUrl(url: string): PostgresLocation {
  let parsed: URL;
  try {
    parsed = new URL(url.trim());
  } catch (error) {
    throw new KernelError(
      'INVALID_STORE_URL',
      `"${redact(url)}" is not a valid URL; use postgres://user@host:5432/database?schema=kerno`,
      { cause: error },
    );
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    throw new KernelError(
      'INVALID_STORE_URL',
      `"${redact(url)}" is not a postgres:// URL; use postgres://user@host:5432/database`,
    );
  }
  const schema = parsed.searchParams.get('schema') ?? DEFAULT_SCHEMA;
  if (!SCHEMA_RE.test(schema)) {
    throw new KernelError(
      'INVALID_STORE_URL',
      `Schema "${schema}" in the store URL is not allowed; use lower-case letters, digits and _ ` +
        '(at most 48 characters, not starting with a digit), e.g. ?schema=kerno_prod',
      { details: { schema } },
    );
  }
  const applicationName = parsed.searchParams.get('application_name') ?? 'kerno';
  const serverOptions = parsed.searchParams.get('options') ?? undefined;
  parsed.searchParams.delete('schema');
  parsed.searchParams.delete('application_name');
  parsed.searchParams.delete('options');
  const connectionString = parsed.toString();
  const display = new URL(parsed.toString());
  display.username = '';
  display.password = '';
  if (schema !== DEFAULT_SCHEMA) display.searchParams.set('schema', schema);
  return {
    connectionString,
    displayUrl: display.toString(),
    schema,
    applicationName,
    serverOptions,
  };
}

function redact(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}

/** The advisory-lock class every kerno lock uses (`krno`). */
export const LOCK_CLASS = 0x6b726e6f;

/** Whether a driver error means the connection is gone (as opposed to a statement failing). */
export function isConnectionError(error: unknown): boolean {
  if (isKernelError(error)) return false;
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== 'string' || !/^[0-9A-Z]{5}$/.test(code)) return true;
  // 08: connection exception; 57P01–57P03: the server is shutting down or killed the backend.
  return code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03';
}

/** The SQLSTATE of a server error, if it is one. */
export function sqlState(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/** Turns a driver error into a `STORAGE_ERROR` (a `KernelError` passes through unchanged). */
export function storageError(what: string, error: unknown): KernelError {
  if (isKernelError(error)) return error;
  const state = sqlState(error);
  const lost = isConnectionError(error);
  return new KernelError(
    'STORAGE_ERROR',
    lost
      ? `${what}: the connection to PostgreSQL failed (${errorMessage(error)}); ` +
          'kerno reconnects for the next operation — retry it'
      : `${what}: PostgreSQL refused it (${state ?? 'error'}: ${errorMessage(error)})`,
    {
      cause: error,
      ...(state === undefined ? {} : { details: { sqlState: state } }),
    },
  );
}

/** Type parsers that give `bigint` columns as numbers (kerno's seqs and times are safe integers). */
export function typeParsers(pg: PgModule): PgTypeParsers {
  const INT8 = 20;
  return {
    getTypeParser(oid: number, format?: string) {
      if (oid === INT8) return (value: string) => Number(value);
      return pg.types.getTypeParser(oid, format);
    },
  };
}

/** Connection settings for one role (`writer`, `listen`, `pool`, …). */
export function clientConfig(
  location: PostgresLocation,
  pg: PgModule,
  role: string,
): PgClientConfig {
  // search_path puts every table in the schema; synchronous_commit=on makes a COMMIT durable
  // (the default, set explicitly so a server-wide `off` cannot weaken kerno's acknowledgements).
  const options = [
    location.serverOptions,
    `-c search_path=${location.schema}`,
    '-c synchronous_commit=on',
  ]
    .filter((o) => o !== undefined && o !== '')
    .join(' ');
  return {
    connectionString: location.connectionString,
    application_name: `${location.applicationName}/${role}`.slice(0, 63),
    options,
    types: typeParsers(pg),
    connectionTimeoutMillis: 10_000,
    keepAlive: true,
  };
}

/** Opens one dedicated connection; failures are `STORAGE_ERROR`s that name the server. */
export async function connectClient(
  pg: PgModule,
  location: PostgresLocation,
  role: string,
  onError: (error: Error) => void,
): Promise<PgClient> {
  const client = new pg.Client(clientConfig(location, pg, role));
  // Without a listener, a connection killed while idle would crash the process.
  client.on('error', onError);
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => undefined);
    throw new KernelError(
      'STORAGE_ERROR',
      `Cannot connect to PostgreSQL at ${location.displayUrl}: ${errorMessage(error)}; ` +
        'check that the server is running and the URL, user and password are right',
      { cause: error },
    );
  }
  return client;
}

/** Quotes an identifier (the schema is validated, but quoting keeps it exact). */
export function quoteIdent(name: string): string {
  return '"' + name.replace(/"/g, '""') + '"';
}
