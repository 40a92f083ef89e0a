/**
 * `kerno/formats`: the upstream formats kerno reads and writes — RVLS learning files (oxios /
 * ruvector), oxios kernel events (serde) and audit actions and exports, aivcs recovery logs, converge experience envelopes, events and NDJSON.
 * `kerno` re-exports them too; this entry loads only the codecs.
 *
 * @example
 * import { verifyOxiosExport } from 'kerno/formats';
 * const result = verifyOxiosExport(JSON.parse(text));
 *
 * @module
 */
export * from './aivcs-recovery.js';
export * from './converge-envelope.js';
export * from './converge-experience-event.js';
export * from './converge-ndjson.js';
export * from './converge-user-event.js';
export * from './learning-records.js';
export * from './oxios-audit-action.js';
export * from './oxios-event.js';
export * from './oxios-kernel-event.js';
export * from './oxios-audit-export.js';
export * from './oxios-memory.js';
export * from './oxios-access-log.js';
export * from './rvls.js';
export * from './serde-float.js';
