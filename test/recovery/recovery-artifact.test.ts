import { createHash } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  DEFAULT_RECOVERY_POLICY,
  decodeRecoveryLog,
  encodeRecoveryLog,
  isKernelError,
  listRecoveryArtifacts,
  readRecoveryArtifact,
  writeRecoveryArtifact,
} from '../../src/index.js';
import type { KernelErrorCode, RecoveryLog } from '../../src/index.js';

/**
 * Artifacts written by hand exactly as aivcs-core's serde_json writes them. Stored as
 * `recovery.json.txt` so the formatter leaves their bytes (no trailing newline) alone.
 */
const FIXTURES = fileURLToPath(new URL('../fixtures/recovery/', import.meta.url));

const LOG: RecoveryLog = {
  run_id: 'run-1',
  policy: DEFAULT_RECOVERY_POLICY,
  initial_failure: { stage: 'build', message: 'linker error', exit_code: 1, flaky_hint: false },
  decisions: [
    {
      attempt: 1,
      failure_class: 'build',
      action: 'patch_forward',
      rationale: 'build/test failure; patch-forward is enabled',
    },
  ],
  outcome: 'recovered',
  attempts_used: 1,
  final_failure: null,
  evaluated_at: '2026-05-14T10:00:00.500Z',
};

const EXPECTED_JSON = `{
  "run_id": "run-1",
  "policy": {
    "max_attempts": 3,
    "max_flaky_retries": 1,
    "allow_patch_forward": true,
    "allow_rollback": true
  },
  "initial_failure": {
    "stage": "build",
    "message": "linker error",
    "exit_code": 1,
    "flaky_hint": false
  },
  "decisions": [
    {
      "attempt": 1,
      "failure_class": "build",
      "action": "patch_forward",
      "rationale": "build/test failure; patch-forward is enabled"
    }
  ],
  "outcome": "recovered",
  "attempts_used": 1,
  "final_failure": null,
  "evaluated_at": "2026-05-14T10:00:00.500Z"
}`;

const sha256 = (bytes: Uint8Array | string) => createHash('sha256').update(bytes).digest('hex');

async function codeOf(promise: Promise<unknown>): Promise<KernelErrorCode | 'none'> {
  try {
    await promise;
    return 'none';
  } catch (error) {
    if (!isKernelError(error)) throw error;
    return error.code;
  }
}

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'kerno-recovery-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Puts a fixture where aivcs would have written it: `<dir>/<run_id>/recovery.{json,digest}`. */
function installFixture(runId: string, into = dir): Buffer {
  mkdirSync(join(into, runId), { recursive: true });
  copyFileSync(join(FIXTURES, runId, 'recovery.json.txt'), join(into, runId, 'recovery.json'));
  copyFileSync(join(FIXTURES, runId, 'recovery.digest'), join(into, runId, 'recovery.digest'));
  return readFileSync(join(into, runId, 'recovery.json'));
}

describe('writeRecoveryArtifact', () => {
  it("writes serde_json's pretty print and its SHA-256, without newlines", async () => {
    const path = await writeRecoveryArtifact(LOG, dir);
    expect(path).toBe(join(dir, 'run-1', 'recovery.json'));
    const json = readFileSync(path, 'utf8');
    expect(json).toBe(EXPECTED_JSON);
    expect(readFileSync(join(dir, 'run-1', 'recovery.digest'), 'utf8')).toBe(sha256(json));
    expect(readdirSync(join(dir, 'run-1')).sort()).toEqual(['recovery.digest', 'recovery.json']);
  });

  it('writes fields in declaration order whatever the object key order', () => {
    const shuffled = {
      evaluated_at: LOG.evaluated_at,
      final_failure: null,
      decisions: LOG.decisions.map((d) => ({ ...d })),
      outcome: 'recovered',
      attempts_used: 1,
      initial_failure: { flaky_hint: false, exit_code: 1, message: 'linker error', stage: 'build' },
      policy: {
        allow_rollback: true,
        allow_patch_forward: true,
        max_flaky_retries: 1,
        max_attempts: 3,
      },
      run_id: 'run-1',
    } as RecoveryLog;
    expect(encodeRecoveryLog(shuffled)).toBe(EXPECTED_JSON);
  });

  it('writes an empty decision list and a failure like serde_json', () => {
    const failed: RecoveryLog = {
      ...LOG,
      decisions: [],
      outcome: 'failed',
      attempts_used: 0,
      final_failure: LOG.initial_failure,
      evaluated_at: '2026-05-14T10:00:00Z',
    };
    const text = encodeRecoveryLog(failed);
    expect(text).toContain('\n  "decisions": [],\n');
    expect(text).toContain(
      '\n  "final_failure": {\n    "stage": "build",\n    "message": "linker error",\n',
    );
  });

  it('normalises evaluated_at to chrono form', () => {
    const text = encodeRecoveryLog({ ...LOG, evaluated_at: '2026-05-14T12:00:00.120+02:00' });
    expect(text).toContain('"evaluated_at": "2026-05-14T10:00:00.120Z"');
  });

  it('overwrites an existing artifact', async () => {
    await writeRecoveryArtifact(LOG, dir);
    await writeRecoveryArtifact({ ...LOG, attempts_used: 2 }, dir);
    expect((await readRecoveryArtifact('run-1', dir)).attempts_used).toBe(2);
    expect(readdirSync(join(dir, 'run-1'))).toHaveLength(2); // no temp files left behind
  });

  it('rejects a log without the RecoveryLog shape', async () => {
    const bad = { ...LOG, outcome: 'maybe' } as unknown as RecoveryLog;
    expect(await codeOf(writeRecoveryArtifact(bad, dir))).toBe('INVALID_ARGUMENT');
    expect(existsSync(join(dir, 'run-1'))).toBe(false);
  });
});

describe('readRecoveryArtifact', () => {
  it('reads back what was written, and re-writing gives identical bytes', async () => {
    await writeRecoveryArtifact(LOG, dir);
    const read = await readRecoveryArtifact('run-1', dir);
    expect(read).toEqual(LOG);
    const again = mkdtempSync(join(tmpdir(), 'kerno-recovery-'));
    try {
      await writeRecoveryArtifact(read, again);
      expect(readFileSync(join(again, 'run-1', 'recovery.json'))).toEqual(
        readFileSync(join(dir, 'run-1', 'recovery.json')),
      );
    } finally {
      rmSync(again, { recursive: true, force: true });
    }
  });

  it('reports DIGEST_MISMATCH naming both digests when one byte of the JSON changes', async () => {
    const path = await writeRecoveryArtifact(LOG, dir);
    const bytes = readFileSync(path);
    const expected = sha256(bytes);
    const at = bytes.indexOf('"attempts_used": 1') + '"attempts_used": '.length;
    bytes[at] = '2'.charCodeAt(0);
    writeFileSync(path, bytes);
    const actual = sha256(bytes);
    let caught: unknown;
    try {
      await readRecoveryArtifact('run-1', dir);
    } catch (error) {
      caught = error;
    }
    expect(isKernelError(caught, 'DIGEST_MISMATCH')).toBe(true);
    const error = caught as Error & { details: Record<string, unknown> };
    expect(error.details).toMatchObject({ expected, actual });
    expect(error.message).toContain(`expected ${expected}, actual ${actual}`);
  });

  it('reports DIGEST_MISMATCH when the digest file is edited', async () => {
    await writeRecoveryArtifact(LOG, dir);
    writeFileSync(join(dir, 'run-1', 'recovery.digest'), '0'.repeat(64));
    expect(await codeOf(readRecoveryArtifact('run-1', dir))).toBe('DIGEST_MISMATCH');
  });

  it('accepts a digest followed by whitespace (the reference trims it)', async () => {
    const path = await writeRecoveryArtifact(LOG, dir);
    writeFileSync(join(dir, 'run-1', 'recovery.digest'), `${sha256(readFileSync(path))}\n`);
    expect(await readRecoveryArtifact('run-1', dir)).toEqual(LOG);
  });

  it('reports NOT_FOUND for a missing run or a missing digest', async () => {
    expect(await codeOf(readRecoveryArtifact('nope', dir))).toBe('NOT_FOUND');
    await writeRecoveryArtifact(LOG, dir);
    rmSync(join(dir, 'run-1', 'recovery.digest'));
    expect(await codeOf(readRecoveryArtifact('run-1', dir))).toBe('NOT_FOUND');
  });

  /** Writes `json` with a matching digest, so only the content check can fail. */
  function plant(runId: string, json: string | Buffer): void {
    mkdirSync(join(dir, runId), { recursive: true });
    writeFileSync(join(dir, runId, 'recovery.json'), json);
    writeFileSync(join(dir, runId, 'recovery.digest'), sha256(json));
  }

  it.each([
    ['malformed JSON', '{"run_id": "x",'],
    ['a JSON array', '[]'],
    ['an unknown outcome', EXPECTED_JSON.replace('"recovered"', '"maybe"')],
    [
      'a negative attempt count',
      EXPECTED_JSON.replace('"attempts_used": 1', '"attempts_used": -1'),
    ],
    ['a bad timestamp', EXPECTED_JSON.replace('2026-05-14T10:00:00.500Z', '2026-13-14T10:00:00Z')],
    ['a missing field', EXPECTED_JSON.replace('"flaky_hint": false', '"flaky": false')],
    [
      'invalid UTF-8',
      Buffer.concat([Buffer.from('{"run_id": "'), Buffer.from([0xff]), Buffer.from('"}')]),
    ],
  ])('reports INVALID_ARTIFACT for %s', async (_name, json) => {
    plant('bad', json);
    expect(await codeOf(readRecoveryArtifact('bad', dir))).toBe('INVALID_ARTIFACT');
  });

  it('treats a missing Option field as null, as serde does', async () => {
    plant(
      'opt',
      EXPECTED_JSON.replace('    "exit_code": 1,\n', '').replace(',\n  "final_failure": null', ''),
    );
    const log = await readRecoveryArtifact('opt', dir);
    expect(log.initial_failure.exit_code).toBeNull();
    expect(log.final_failure).toBeNull();
  });
});

describe('artifacts written by aivcs-core', () => {
  it('verifies and reads a recovered run with a nanosecond timestamp and non-ASCII text', async () => {
    const bytes = installFixture('aivcs-run-0001');
    expect(readFileSync(join(dir, 'aivcs-run-0001', 'recovery.digest'), 'utf8')).toBe(
      sha256(bytes),
    );
    const log = await readRecoveryArtifact('aivcs-run-0001', dir);
    expect(log.evaluated_at).toBe('2026-05-14T10:00:00.123456789Z');
    expect(log.initial_failure).toEqual({
      stage: 'test',
      message: 'assertion failed: left == right — snapshot mismatch in ü.snap',
      exit_code: 101,
      flaky_hint: true,
    });
    expect(log.decisions.map((d) => d.action)).toEqual(['retry', 'patch_forward']);
    expect(log.outcome).toBe('recovered');
  });

  it('reads a failed run with escapes, a negative exit code and a microsecond timestamp', async () => {
    installFixture('aivcs-run-0002');
    const log = await readRecoveryArtifact('aivcs-run-0002', dir);
    expect(log.initial_failure.message).toBe(
      'thread \'main\' panicked at src/main.rs:3:5:\n\t"boom" \\ \u001b[31m',
    );
    expect(log.initial_failure.exit_code).toBe(-11);
    expect(log.final_failure).toEqual({
      stage: 'smoke',
      message: 'TLS handshake timed out',
      exit_code: null,
      flaky_hint: false,
    });
    expect(log.evaluated_at).toBe('2026-05-14T10:00:01.500250Z');
  });

  it.each(['aivcs-run-0001', 'aivcs-run-0002'])(
    're-writing %s reproduces the identical bytes and digest',
    async (runId) => {
      const src = mkdtempSync(join(tmpdir(), 'kerno-aivcs-'));
      try {
        const original = installFixture(runId, src);
        const log = await readRecoveryArtifact(runId, src);
        await writeRecoveryArtifact(log, dir);
        expect(readFileSync(join(dir, runId, 'recovery.json'))).toEqual(original);
        expect(readFileSync(join(dir, runId, 'recovery.digest'), 'utf8')).toBe(
          readFileSync(join(src, runId, 'recovery.digest'), 'utf8'),
        );
        expect(decodeRecoveryLog(original.toString('utf8'))).toEqual(log);
      } finally {
        rmSync(src, { recursive: true, force: true });
      }
    },
  );
});

describe('run ids', () => {
  it.each(['', '.', '..', 'a/b', '../escape', '..\\escape', 'a\0b', '/abs'])(
    'rejects %j on write and read',
    async (runId) => {
      const inner = join(dir, 'root');
      expect(await codeOf(writeRecoveryArtifact({ ...LOG, run_id: runId }, inner))).toBe(
        'INVALID_ARGUMENT',
      );
      expect(await codeOf(readRecoveryArtifact(runId, inner))).toBe('INVALID_ARGUMENT');
      expect(readdirSync(dir)).toEqual([]); // nothing written anywhere
    },
  );

  it('accepts ids with dots and unicode that stay inside the directory', async () => {
    await writeRecoveryArtifact({ ...LOG, run_id: '..hidden.run-ü' }, dir);
    expect((await readRecoveryArtifact('..hidden.run-ü', dir)).run_id).toBe('..hidden.run-ü');
  });
});

describe('listRecoveryArtifacts', () => {
  it('lists the runs that have a recovery.json, sorted', async () => {
    await writeRecoveryArtifact({ ...LOG, run_id: 'b' }, dir);
    await writeRecoveryArtifact({ ...LOG, run_id: 'a' }, dir);
    installFixture('aivcs-run-0001');
    mkdirSync(join(dir, 'empty'));
    writeFileSync(join(dir, 'stray.json'), '{}');
    expect(await listRecoveryArtifacts(dir)).toEqual(['a', 'aivcs-run-0001', 'b']);
  });

  it('returns [] for a missing directory', async () => {
    expect(await listRecoveryArtifacts(join(dir, 'missing'))).toEqual([]);
  });
});
