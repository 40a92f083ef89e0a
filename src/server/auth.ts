/**
 * API authentication: bearer tokens. The daemon's admin token is generated on first start and
 * kept in `<state>/token` (mode 0600). More tokens live hashed in `<state>/tokens.json`: tenant
 * tokens (read and write only their tenant's ledger records and approval gates) and admin tokens
 * that may also reveal secret config values. Any token may also carry approver groups (scopes
 * `approver:<group>`): it may then decide the gates of those groups (src/approvals).
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Decider } from '../approvals/approval-gate.js';
import { KernelError } from '../errors.js';
import { digestsEqual, sha256Hex } from '../util/digest.js';

/** Who is calling. */
export type Principal =
  | {
      readonly kind: 'admin';
      readonly reveal: boolean;
      readonly label: string;
      /** The token's id (`kerno tokens ls`): tells approvers apart when labels repeat. */
      readonly id?: string;
      readonly groups?: readonly string[];
    }
  | {
      readonly kind: 'tenant';
      readonly tenant: string;
      readonly label: string;
      readonly id?: string;
      readonly groups?: readonly string[];
    };

/** Who decides an approval gate, from the calling token (tenant, approver groups). */
export function deciderOf(p: Principal): Decider {
  return p.kind === 'admin'
    ? { admin: true, groups: p.groups ?? [], ...(p.id === undefined ? {} : { id: p.id }) }
    : {
        admin: false,
        tenant: p.tenant,
        groups: p.groups ?? [],
        ...(p.id === undefined ? {} : { id: p.id }),
      };
}

/** An approver group: what follows `approver:` in a token scope. */
export const APPROVER_GROUP = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;

/**
 * The name a principal's actions are recorded under (an approval's `decided_by`): the token's
 * label, and its tenant for a tenant token. Comes from the token, never from a request body.
 */
export function principalName(p: Principal): string {
  return p.kind === 'tenant' ? `${p.label} (tenant ${p.tenant})` : p.label;
}

/** A stored token (only its hash is kept). */
export interface TokenRecord {
  readonly sha256: string;
  readonly label: string;
  readonly scope: 'admin' | 'reveal' | 'tenant';
  readonly tenant?: string;
  /** Approver groups (`approver:<group>` scopes); absent in tokens made before them. */
  readonly approver?: readonly string[];
  readonly created_at: string;
}

const TOKEN_FILE = 'token';
const TOKENS_FILE = 'tokens.json';

/** Generates a new random token (256 bits, base64url). */
export function newToken(): string {
  return 'kerno_' + randomBytes(32).toString('base64url');
}

/** Reads `<stateDir>/token`, creating it (mode 0600) on first start. */
export function loadOrCreateAdminToken(stateDir: string): { token: string; created: boolean } {
  const file = join(stateDir, TOKEN_FILE);
  if (existsSync(file)) {
    const token = readFileSync(file, 'utf8').trim();
    if (token.length < 16) {
      throw new KernelError(
        'INVALID_ARGUMENT',
        `${file} does not hold a usable token; delete it to generate a new one`,
      );
    }
    return { token, created: false };
  }
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const token = newToken();
  writeFileSync(file, token + '\n', { mode: 0o600, flag: 'wx' });
  chmodSync(file, 0o600);
  return { token, created: true };
}

/** Reads the stored tokens (`<stateDir>/tokens.json`). */
export function readTokens(stateDir: string): TokenRecord[] {
  const file = join(stateDir, TOKENS_FILE);
  if (!existsSync(file)) return [];
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as { tokens?: TokenRecord[] };
    return Array.isArray(parsed.tokens) ? parsed.tokens : [];
  } catch (error) {
    throw new KernelError('INVALID_ARGUMENT', `${file} is not valid JSON; fix or delete it`, {
      cause: error,
    });
  }
}

/** Creates a token, stores its hash and returns the token (shown once). */
export function createToken(
  stateDir: string,
  options: {
    scope: TokenRecord['scope'];
    tenant?: string;
    label?: string;
    approver?: readonly string[];
  },
): { token: string; record: TokenRecord } {
  if (options.scope === 'tenant' && (options.tenant === undefined || options.tenant === '')) {
    throw new KernelError('INVALID_ARGUMENT', 'A tenant token needs --tenant <id>');
  }
  for (const g of options.approver ?? []) {
    if (!APPROVER_GROUP.test(g)) {
      throw new KernelError(
        'INVALID_ARGUMENT',
        `An approver group is 1–64 letters, digits, ".", "_", "-" or ":" (e.g. --approver finance), got ${JSON.stringify(g)}`,
      );
    }
  }
  const token = newToken();
  const record: TokenRecord = {
    sha256: sha256Hex(token),
    label:
      options.label ??
      (options.scope === 'tenant' ? `tenant ${options.tenant ?? ''}` : options.scope),
    scope: options.scope,
    ...(options.tenant === undefined ? {} : { tenant: options.tenant }),
    ...(options.approver === undefined || options.approver.length === 0
      ? {}
      : { approver: [...new Set(options.approver)] }),
    created_at: new Date().toISOString(),
  };
  const tokens = [...readTokens(stateDir), record];
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const file = join(stateDir, TOKENS_FILE);
  writeFileSync(file, JSON.stringify({ tokens }, null, 2) + '\n', { mode: 0o600 });
  chmodSync(file, 0o600);
  return { token, record };
}

/** A stored token's short id: the first 12 hex digits of its hash (`kerno tokens ls`). */
export function tokenId(record: TokenRecord): string {
  return record.sha256.slice(0, 12);
}

/**
 * Revokes stored tokens by id (or a prefix of at least 6 hex digits) or by label; a label
 * several tokens share is refused, naming their ids. The daemon stops accepting the token at
 * its next request (it re-reads tokens.json when it changes). Returns the revoked record.
 */
export function revokeToken(stateDir: string, ref: string): TokenRecord {
  const tokens = readTokens(stateDir);
  const byId = /^[0-9a-f]{6,64}$/.test(ref) ? tokens.filter((t) => t.sha256.startsWith(ref)) : [];
  const matches = byId.length > 0 ? byId : tokens.filter((t) => t.label === ref);
  if (matches.length === 0) {
    throw new KernelError(
      'NOT_FOUND',
      `No stored token with id or label ${JSON.stringify(ref)}; list them with kerno tokens ls (the daemon's own token is rotated by deleting <home>/token and restarting)`,
    );
  }
  if (matches.length > 1) {
    throw new KernelError(
      'CONFLICT',
      `${String(matches.length)} tokens match ${JSON.stringify(ref)} (ids ${matches.map(tokenId).join(', ')}); revoke one by its id`,
    );
  }
  const revoked = matches[0]!;
  const file = join(stateDir, TOKENS_FILE);
  const rest = tokens.filter((t) => t !== revoked);
  writeFileSync(file, JSON.stringify({ tokens: rest }, null, 2) + '\n', { mode: 0o600 });
  chmodSync(file, 0o600);
  return revoked;
}

/** Resolves bearer tokens to principals; re-reads tokens.json when it changes. */
export class TokenAuthority {
  readonly #adminHash: string;
  readonly #stateDir: string | undefined;
  #records = new Map<string, TokenRecord>();
  #mtime = -1;

  constructor(adminToken: string, stateDir?: string) {
    this.#adminHash = sha256Hex(adminToken);
    this.#stateDir = stateDir;
    this.#reload();
  }

  #reload(): void {
    if (this.#stateDir === undefined) return;
    const file = join(this.#stateDir, TOKENS_FILE);
    const mtime = existsSync(file) ? statSync(file).mtimeMs : 0;
    if (mtime === this.#mtime) return;
    this.#mtime = mtime;
    this.#records = new Map(readTokens(this.#stateDir).map((r) => [r.sha256, r]));
  }

  /** The principal for an `Authorization` header value, or an UNAUTHORIZED error. */
  authenticate(header: string | undefined): Principal {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
    if (match === null) {
      throw new KernelError(
        'UNAUTHORIZED',
        'Send the API token as "Authorization: Bearer <token>" (see <state>/token)',
      );
    }
    const hash = sha256Hex(match[1]!);
    if (digestsEqual(hash, this.#adminHash))
      return { kind: 'admin', reveal: false, label: 'daemon token', id: 'daemon' };
    this.#reload();
    const record = this.#records.get(hash);
    if (record === undefined) throw new KernelError('UNAUTHORIZED', 'The API token is not valid');
    const groups = Array.isArray(record.approver)
      ? record.approver.filter((g) => typeof g === 'string')
      : [];
    if (record.scope === 'tenant')
      return {
        kind: 'tenant',
        tenant: record.tenant ?? '',
        label: record.label,
        groups,
        id: tokenId(record),
      };
    return {
      kind: 'admin',
      reveal: record.scope === 'reveal',
      label: record.label,
      groups,
      id: tokenId(record),
    };
  }
}

/** Who may call a route: any valid token (`tenant`), an admin token, or an admin token with reveal scope. */
export type RouteScope = 'tenant' | 'admin' | 'reveal';

/** Throws FORBIDDEN unless `p` may call a route of `scope`. The one place these rules live. */
export function authorize(p: Principal, scope: RouteScope): void {
  if (scope === 'tenant') return;
  if (p.kind !== 'admin') {
    throw new KernelError(
      'FORBIDDEN',
      `A tenant token (${p.tenant}) may only use its tenant's ledger records, runs and approval gates; this needs an admin token`,
    );
  }
  if (scope === 'reveal' && !p.reveal) {
    throw new KernelError(
      'FORBIDDEN',
      'This needs a token with the reveal scope (`kerno tokens create --reveal`)',
    );
  }
}

/**
 * The tenant a request is confined to, checking any tenant it names: an admin gets what it
 * names, a tenant token always its own tenant (naming another is FORBIDDEN). The API's ledger
 * routes and the MCP tools use this one rule.
 */
export function confineTenant(
  p: Principal,
  named: string | null | undefined,
): string | null | undefined {
  if (p.kind === 'admin') return named;
  if (named !== undefined && named !== null && named !== p.tenant) {
    throw new KernelError(
      'FORBIDDEN',
      `This token belongs to tenant ${p.tenant} and cannot use tenant ${named}`,
    );
  }
  return p.tenant;
}
