/**
 * kerno: a kernel for AI-agent systems.
 *
 * @example
 * import { createMemoryBus, createAuditTrail, createMemoryLog } from 'kerno';
 * const bus = createMemoryBus();
 * const audit = createAuditTrail({ log: createMemoryLog() });
 * audit.attach(bus);
 * bus.publish({ type: 'AgentCreated', id: '0190a6e2-7c1b-7abc-8def-0123456789ab', name: 'researcher' });
 * console.log(await audit.verify()); // { ok: true, verified: 1, … }
 *
 * @module
 */
export { KernelError, isKernelError, errorMessage } from './errors.js';
export type { KernelErrorCode, KernelErrorOptions } from './errors.js';

export { systemClock, ManualClock, sleep } from './util/clock.js';
export type { Clock, TimerHandle } from './util/clock.js';
export { systemRandom, seededRandom } from './util/random.js';
export type { Random } from './util/random.js';
export { createUuidV7, isUuid, uuidV7Time } from './util/ids.js';
export type { IdGenerator, UuidV7Options } from './util/ids.js';
export { canonicalJson } from './util/canonical-json.js';
export type { JsonValue } from './util/canonical-json.js';
export { sha256Hex, blake3Hex } from './util/digest.js';
export { createStderrLogger, createMemoryLogger, silentLogger } from './util/logger.js';
export type { Logger, LogLevel, LogFields, MemoryLogger } from './util/logger.js';

export {
  KERNEL_EVENT_FIELDS,
  KERNEL_EVENT_TYPES,
  OXIOS_EVENT_TYPES,
  PHASES,
  MODULE_STATES,
  FAILURE_CLASSES,
  RECOVERY_ACTIONS,
  isKernelEventType,
  parseKernelEvent,
  encodeKernelEvent,
  decodeKernelEvent,
  toSerdeEvent,
  fromSerdeEvent,
  encodeSerdeEvent,
  decodeSerdeEvent,
  formatEventDebug,
} from './bus/kernel-event.js';
export type {
  KernelEvent,
  KernelEventOf,
  KernelEventType,
  Phase,
  ModuleState,
  FieldSpec,
} from './bus/kernel-event.js';
export { isLagged } from './bus/event-bus.js';
export type {
  EventBus,
  BusLagged,
  BusStats,
  BusSubscription,
  EventFilter,
  EventSelector,
  SelectedEvent,
  SubscribeOptions,
  Unsubscribe,
  HandlerErrorHook,
} from './bus/event-bus.js';
export { createMemoryBus } from './bus/memory-bus.js';
export type { MemoryBusOptions } from './bus/memory-bus.js';

export {
  AUDIT_ACTION_FIELDS,
  AUDIT_ACTION_TYPES,
  parseAuditAction,
  encodeAuditAction,
  isAuditActionType,
} from './audit/audit-action.js';
export type { AuditAction, AuditActionType } from './audit/audit-action.js';
export { auditActionFor, auditActorFor, auditResourceFor } from './audit/from-kernel-event.js';
export { AuditTrail, createAuditTrail, verifyAuditExport } from './audit/audit-trail.js';
export type {
  AuditEntry,
  AuditExport,
  AuditQuery,
  AuditTrailOptions,
  AuditTrailStats,
  AuditVerifyOptions,
  AuditVerifyResult,
} from './audit/audit-trail.js';
export { verifyOxiosExport, oxiosEntryHash } from './audit/oxios-export.js';
export type { OxiosAuditEntry, OxiosVerifyResult } from './audit/oxios-export.js';

export { GENESIS_HASH, recordHash, describeBreak } from './storage/log.js';
export type {
  LogStore,
  LogAppend,
  LogRecord,
  LogHead,
  LogAnchor,
  LogQuery,
  LogListener,
  ChainBreak,
  VerifyResult,
  TimeRangeMs,
} from './storage/log.js';
export { createMemoryLog } from './storage/memory/memory-log.js';
export type { MemoryLogOptions } from './storage/memory/memory-log.js';
