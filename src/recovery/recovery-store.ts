/**
 * Recovery logs in storage: every recovery run the kernel performs is kept on the log (stream
 * `recovery`, keyed by run id, indexed by agent), so the supervisor can check a new failure for
 * regressions against earlier runs — across restarts and across kernels sharing a store.
 *
 * @module
 */
import type { LogStore } from '../storage/log.js';
import { canonicalJson } from '../util/canonical-json.js';
import { parseRfc3339 } from '../util/time.js';
import { classifyFailure } from './classify.js';
import type { RecoveryLog } from './recovery-types.js';

/** A stored recovery run: which agent it was for, and its log. */
export interface StoredRecovery {
  readonly agent: string;
  readonly log: RecoveryLog;
}

/** Reads and writes recovery logs on the log. */
export interface RecoveryLogStore {
  /** Stores a run's log (idempotent by `run_id`). */
  record(agent: string, log: RecoveryLog): Promise<void>;
  /** The newest `limit` runs for `agent`, oldest first. */
  forAgent(agent: string, limit?: number): Promise<RecoveryLog[]>;
  /** The newest `limit` runs of every agent, oldest first. */
  recent(limit?: number): Promise<StoredRecovery[]>;
  /** One run by id. */
  get(runId: string): Promise<StoredRecovery | undefined>;
}

/** Creates the store over `log` (stream `recovery`). */
export function createRecoveryLogStore(log: LogStore, stream = 'recovery'): RecoveryLogStore {
  const parse = (body: string): StoredRecovery => JSON.parse(body) as StoredRecovery;
  return {
    async record(agent, recovery) {
      await log.append(stream, [
        {
          timeMs: parseRfc3339(recovery.evaluated_at)?.ms ?? 0,
          body: canonicalJson({ agent, log: recovery }),
          key: recovery.run_id,
          kind: classifyFailure(recovery.initial_failure),
          subject: agent,
        },
      ]);
    },
    async forAgent(agent, limit = 50) {
      const records = await log.query(stream, { subject: agent, limit, orderBy: 'seq' });
      return records.map((r) => parse(r.body).log);
    },
    async recent(limit = 50) {
      const records = await log.query(stream, { limit, orderBy: 'seq' });
      return records.map((r) => parse(r.body));
    },
    async get(runId) {
      const r = await log.getByKey(stream, runId);
      return r === undefined ? undefined : parse(r.body);
    },
  };
}
