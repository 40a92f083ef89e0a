/**
 * Recovery logs as memory entries (aivcs-core `recovery_log_to_memory_fields`): the same summary
 * text, tags and token estimate, so memories indexed by either system read alike.
 *
 * @example
 * import { recoveryLogToMemoryFields } from 'kerno';
 * recoveryLogToMemoryFields(log).summary;
 * // "Successful recovery for build failure in stage 'build': PatchForward in 1 attempt(s)"
 *
 * @module
 */
import { classifyFailure } from './classify.js';
import { recoveryActionDebugName } from './recovery-types.js';
import type { RecoveryLog } from './recovery-types.js';

/** What a memory entry needs from a recovery log. */
export interface RecoveryMemoryFields {
  /** One line: outcome, failure class, stage, last action (Rust Debug name), attempts. */
  readonly summary: string;
  /** `recovery:<outcome>`, `failure:<class>`, `stage:<stage>`, `run:<run_id>`, and `flaky:true` when flaky. */
  readonly tags: readonly string[];
  /** `max(1, floor(UTF-8 bytes of summary / 4))`. */
  readonly tokenEstimate: number;
}

/** Converts a recovery log into the fields of a memory entry, exactly as the reference does. */
export function recoveryLogToMemoryFields(log: RecoveryLog): RecoveryMemoryFields {
  const failureClass = classifyFailure(log.initial_failure);
  const last = log.decisions[log.decisions.length - 1];
  const summary =
    `${log.outcome === 'recovered' ? 'Successful' : 'Failed'} recovery for ${failureClass} ` +
    `failure in stage '${log.initial_failure.stage}': ` +
    `${last === undefined ? 'none' : recoveryActionDebugName(last.action)} ` +
    `in ${log.attempts_used} attempt(s)`;
  const tags = [
    `recovery:${log.outcome}`,
    `failure:${failureClass}`,
    `stage:${log.initial_failure.stage}`,
    `run:${log.run_id}`,
  ];
  if (log.initial_failure.flaky_hint) tags.push('flaky:true');
  const tokenEstimate = Math.max(1, Math.floor(Buffer.byteLength(summary, 'utf8') / 4));
  return { summary, tags, tokenEstimate };
}
