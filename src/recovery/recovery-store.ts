/**
 * Recovery logs in storage: every recovery run the kernel performs is kept on the log (stream
 * `recovery`, keyed by run id, indexed by agent), so the supervisor can check a new failure for
 * regressions against earlier runs — across restarts and across kernels sharing a store.
 *
 * @module
 */
import type { LogStore } from '../storage/log.js';
import { createLogView, type LogCodec } from '../storage/log-view.js';
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

/** Recovery runs on the log: keyed by run id, kind = failure class, subject = agent. */
const RECOVERY_CODEC: LogCodec<StoredRecovery, StoredRecovery> = {
  encode: (stored) => ({
    timeMs: parseRfc3339(stored.log.evaluated_at)?.ms ?? 0,
    body: canonicalJson({ agent: stored.agent, log: stored.log }),
    key: stored.log.run_id,
    kind: classifyFailure(stored.log.initial_failure),
    subject: stored.agent,
  }),
  decode: (r) => JSON.parse(r.body) as StoredRecovery,
};

/** Creates the store over `log` (stream `recovery`). */
export function createRecoveryLogStore(log: LogStore, stream = 'recovery'): RecoveryLogStore {
  const view = createLogView({ log, stream, codec: RECOVERY_CODEC });
  return {
    async record(agent, recovery) {
      await view.append([{ agent, log: recovery }]);
    },
    async forAgent(agent, limit = 50) {
      const stored = await view.query({ subject: agent, limit, orderBy: 'seq' });
      return stored.map((s) => s.log);
    },
    recent: (limit = 50) => view.query({ limit, orderBy: 'seq' }),
    get: (runId) => view.get(runId),
  };
}
