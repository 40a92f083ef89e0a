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
export {
  KernelError,
  isKernelError,
  isKernelErrorCode,
  errorMessage,
  KERNEL_ERROR_CODES,
  ERROR_HINTS,
} from './errors.js';
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
  OXIOS_143_KERNEL_TYPES,
  PHASES,
  MODULE_STATES,
  FAILURE_CLASSES,
  RECOVERY_ACTIONS,
  isKernelEventType,
  parseKernelEvent,
  encodeKernelEvent,
  decodeKernelEvent,
} from './model/kernel-event.js';
export {
  toSerdeEvent,
  fromSerdeEvent,
  encodeSerdeEvent,
  decodeSerdeEvent,
  formatEventDebug,
  toOxiosEvent,
  fromOxiosEvent,
} from './formats/oxios-kernel-event.js';
export type { SerdeEventOptions } from './formats/oxios-kernel-event.js';
export {
  OXIOS_VERSIONS,
  OXIOS_EVENT_SETS,
  oxiosEventTypes,
  decodeOxiosEvent,
  encodeOxiosEvent,
  createOxiosEvent,
  oxiosEventValue,
  formatOxiosEventDebug,
} from './formats/oxios-event.js';
export type { OxiosEvent, OxiosVersion, OxiosFieldSpec } from './formats/oxios-event.js';
export type {
  KernelEvent,
  KernelEventOf,
  KernelEventType,
  Phase,
  ModuleState,
  FieldSpec,
} from './model/kernel-event.js';
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
export { createNatsBus } from './bus/nats/nats-bus.js';
export type {
  NatsBus,
  NatsBusOptions,
  NatsBusStats,
  NatsDeliverPolicy,
} from './bus/nats/nats-bus.js';
export { openBus, parseBusUrl } from './bus/open-bus.js';
export type { OpenBusOptions, BusLocation } from './bus/open-bus.js';

export {
  AUDIT_ACTION_FIELDS,
  AUDIT_ACTION_TYPES,
  parseAuditAction,
  encodeAuditAction,
  isAuditActionType,
} from './formats/oxios-audit-action.js';
export type { AuditAction, AuditActionType } from './formats/oxios-audit-action.js';
export { auditActionFor, auditActorFor, auditResourceFor } from './audit/from-kernel-event.js';
export {
  auditActionForOxios,
  auditActorForOxios,
  auditResourceForOxios,
  isAuditedOxiosEvent,
} from './audit/from-oxios-event.js';
export {
  AuditTrail,
  auditedEvent,
  createAuditTrail,
  verifyAuditExport,
} from './audit/audit-trail.js';
export { storedAuditEvent, type StoredEvent } from './audit/stored-event.js';
export type {
  AuditEntry,
  AuditAttachOptions,
  AuditExport,
  AuditFollowOptions,
  AuditQuery,
  AuditTrailOptions,
  AuditTrailStats,
  AuditVerifyOptions,
  AuditVerifyResult,
} from './audit/audit-trail.js';
export { verifyOxiosExport, oxiosEntryHash } from './formats/oxios-audit-export.js';
export type { OxiosAuditEntry, OxiosVerifyResult } from './formats/oxios-audit-export.js';

export { GENESIS_HASH, recordHash, describeBreak, acceptanceStream } from './storage/log.js';
export type {
  LogStore,
  LogAppend,
  LogRecord,
  LogHead,
  LogAnchor,
  LogQuery,
  LogListener,
  ChainBreak,
  VerifyBreak,
  VerifyResult,
  TimeRangeMs,
  ChainAcceptance,
  AcceptedBreak,
  AppliedAcceptance,
  LogAppendAllResult,
} from './storage/log.js';
export { createMemoryLog } from './storage/memory/memory-log.js';
export type { MemoryLogOptions } from './storage/memory/memory-log.js';

export {
  RECOVERY_OUTCOMES,
  REGRESSION_RECOMMENDATIONS,
  DEFAULT_RECOVERY_POLICY,
  createFailureSignal,
  createRecoveryPolicy,
  recoveryActionDebugName,
} from './recovery/recovery-types.js';
export type {
  FailureClass,
  FailureSignal,
  FailureSignalOptions,
  RecoveryAction,
  RecoveryAttemptResult,
  RecoveryDecision,
  RecoveryLog,
  RecoveryOutcome,
  RecoveryPolicy,
  RegressionCheck,
  RegressionRecommendation,
} from './recovery/recovery-types.js';
export { classifyFailure, decideRecoveryAction, RECOVERY_RATIONALES } from './recovery/classify.js';
export type { RecoveryChoice } from './recovery/classify.js';
export {
  parseFailureSignal,
  parseRecoveryPolicy,
  parseRecoveryAttemptResult,
  parseRecoveryLog,
  encodeRecoveryLog,
  decodeRecoveryLog,
} from './formats/aivcs-recovery.js';
export { executeRecoveryLoop, RECOVERY_STAGE } from './recovery/recovery-loop.js';
export type {
  ApplyRecoveryAction,
  DecideRecoveryAction,
  RecoveryDecisionContext,
  RecoveryLoopOptions,
} from './recovery/recovery-loop.js';
export { checkRegression } from './recovery/regression.js';
export { recoveryLogToMemoryFields } from './recovery/memory-fields.js';
export type { RecoveryMemoryFields } from './recovery/memory-fields.js';
export {
  RECOVERY_ARTIFACT_FILE,
  RECOVERY_DIGEST_FILE,
  isSafeRunId,
  writeRecoveryArtifact,
  readRecoveryArtifact,
  listRecoveryArtifacts,
} from './recovery/recovery-artifact.js';

export {
  EXPERIENCE_EVENT_KINDS,
  DECISION_STEPS,
  DEFAULT_DECISION_STEP,
  PROPOSAL_KINDS,
  REPLAYABILITY_LEVELS,
  REPLAYABILITY_DOWNGRADE_REASONS,
  BUDGET_RESOURCE_NAMES,
  HYPOTHESIS_OUTCOMES,
  ARTIFACT_KIND_NAMES,
  GOVERNED_ARTIFACT_STATES,
  ROLLBACK_SEVERITIES,
  TIMEOUT_ACTIONS,
  ERROR_CATEGORIES,
  DEFAULT_TIMEOUT_POLICY,
  isExperienceEventKind,
  eventKind,
  eventChainId,
  eventTraceLinkId,
  parseExperienceEvent,
  experienceEventSchema,
} from './formats/converge-experience-event.js';
export type {
  ExperienceEvent,
  ExperienceEventKind,
  ExperienceEventOf,
  ExperienceEventDataMap,
  DecisionStep,
  ProposalKind,
  Replayability,
  ReplayabilityDowngradeReason,
  BudgetResource,
  HypothesisOutcome,
  ArtifactKind,
  GovernedArtifactState,
  RollbackSeverity,
  TimeoutAction,
  ErrorCategory,
  ContractResultSnapshot,
  AdapterTrace,
  SamplerParams,
  RecallTrace,
  ExecutionEnv,
  LocalReplayTrace,
  RemoteReplayTrace,
  ReplayTrace,
  KernelProposal,
  KernelPolicy,
  RoutingPolicy,
  RecallPolicy,
  PolicySnapshot,
  RecallQuery,
  RecallProvenanceEnvelope,
  LifecycleEvent,
  RollbackImpact,
  RollbackRecord,
  ContextItem,
  TimeoutPolicy,
  GateRequest,
  GateVerdict,
  GateDecision,
  StopReason,
} from './formats/converge-experience-event.js';
export {
  MAX_TIMESTAMP_LENGTH,
  timestampSchema,
  unitIntervalSchema,
} from './formats/converge-experience-event.js';
export {
  BOUNDARY_KINDS,
  FACT_CONTENT_KINDS,
  USER_EXPERIENCE_EVENT_KINDS,
  isUserExperienceEvent,
  isUserExperienceEventKind,
  parseUserExperienceEvent,
  userExperienceEventSchema,
} from './formats/converge-user-event.js';
export type {
  BoundaryKind,
  BoundaryTarget,
  CorrectionTarget,
  FactContent,
  FactContentKind,
  OverrideTarget,
  UserExperienceEvent,
  UserExperienceEventDataMap,
  UserExperienceEventKind,
  UserExperienceEventOf,
} from './formats/converge-user-event.js';
export {
  MAX_ID_LENGTH,
  createEnvelope,
  parseEnvelope,
  parseUserEnvelope,
  parseAnyEnvelope,
  toExperienceRecord,
  isExperienceRecordShape,
  isUserEnvelope,
  isValidConvergeId,
  envelopeTimeMs,
  experienceEnvelopeSchema,
  userExperienceEnvelopeSchema,
} from './formats/converge-envelope.js';
export type {
  AnyExperienceEnvelope,
  ExperienceEnvelope,
  ExperienceRecord,
  IdRules,
  ParseEnvelopeOptions,
  UserExperienceEnvelope,
  CreateEnvelopeOptions,
} from './formats/converge-envelope.js';
export {
  GOVERNED_ARTIFACT_TRANSITIONS,
  allowedTransitions,
  assertTransition,
  canTransition,
  isTerminalState,
  isGovernedArtifactState,
} from './ledger/artifact-lifecycle.js';
export {
  DEFAULT_MAX_LINE_LENGTH,
  encodeEnvelopeLine,
  readEnvelopeLines,
} from './formats/converge-ndjson.js';
export type {
  EnvelopeLine,
  EnvelopeLineForm,
  EnvelopeLineReader,
  EnvelopeLineProblem,
  ReadEnvelopeLinesOptions,
} from './formats/converge-ndjson.js';

export {
  Ledger,
  createLedger,
  LEDGER_EVENT_KINDS,
  IMPORT_CONFLICT_MODES,
} from './ledger/ledger.js';
export type {
  ImportConflict,
  ImportConflictMode,
  LedgerEventKind,
  LedgerImportOptions,
  LedgerImportResult,
  LedgerRecord,
  LedgerAppendOptions,
  LedgerQuery,
  LedgerTimeRange,
  LedgerFilter,
  LedgerSubscribeOptions,
  LedgerVerifyResult,
  LedgerOptions,
} from './ledger/ledger.js';

export { openStorage, parseStoreUrl } from './storage/open-storage.js';
export type { OpenStorageOptions, StoreLocation } from './storage/open-storage.js';
export type { Storage, StorageKind } from './storage/storage.js';
export { createMemoryStorage } from './storage/memory/memory-storage.js';
export type { MemoryStorageOptions } from './storage/memory/memory-storage.js';
export type { LogBody } from './storage/log.js';

export {
  ApprovalGate,
  createApprovalGate,
  approvalIdFor,
  DEFAULT_APPROVAL_TIMEOUT,
} from './approvals/approval-gate.js';
export type {
  ApprovalRequestInput,
  ApprovalDecision,
  ApprovalSnapshot,
  ApprovalGateOptions,
  DecisionListener,
  ApproverPolicy,
  ApprovalVote,
  Decider,
  PendingApproval,
  SimilarDecision,
} from './approvals/approval-gate.js';
export { ApprovalRules, RuleIndex, createApprovalRules, parseRuleSpec } from './policies/rules.js';
export type {
  ApprovalRulesOptions,
  AuthorizeRequest,
  RuleApproval,
  RuleDecision,
  RuleEffect,
  RuleMatch,
  RulePattern,
  RuleSpec,
} from './policies/rules.js';
export { createRecoveryLogStore } from './recovery/recovery-store.js';
export type { RecoveryLogStore, StoredRecovery } from './recovery/recovery-store.js';
export { followLog } from './storage/follow.js';
export type { FollowOptions, LogFollow } from './storage/follow.js';
export { LogView, createLogView } from './storage/log-view.js';
export type {
  LogCodec,
  LogViewOptions,
  LogViewFollowOptions,
  LogVerifyOptions,
  LogAcceptOptions,
} from './storage/log-view.js';

export { createLearningStore, openLearningStore } from './learning/learning-store.js';
export type {
  LearningStore,
  LearningStoreOptions,
  LearningStoreStats,
  OpenLearningStoreOptions,
  RecallOptions,
  RecordTrajectoryInput,
} from './learning/learning-store.js';
export {
  DEFAULT_PROTECTION_STRENGTH,
  defaultEwcState,
  canonicalTimestamp,
} from './formats/learning-records.js';
export type {
  PatternRecord,
  TrajectoryStep,
  TrajectoryRecord,
  TrajectoryOutcome,
  EwcState,
} from './formats/learning-records.js';
export {
  RVLS_HEADER,
  RVLS_FOOTER,
  MAX_SKIPPED_DETAILS,
  encodeRvls,
  encodeRvlsChunks,
  encodeRvlsRecord,
  decodeRvls,
  decodeRvlsLine,
  createRvlsDecoder,
  readRvlsStream,
  rvlsFileError,
} from './formats/rvls.js';
export type {
  RvlsRecord,
  RvlsDecoder,
  RvlsDecoderOptions,
  RvlsDecodeResult,
  RvlsFileProblem,
  RvlsLineResult,
  LearningSnapshot,
  SkippedRecord,
} from './formats/rvls.js';
export { formatF32, formatF64, canonicalF32 } from './formats/serde-float.js';
export { tokenize } from './learning/recall.js';
export type { RecallHit } from './learning/recall.js';
export { createMemoryLearningPersistence } from './storage/memory/memory-learning.js';
export type { MemoryLearningPersistenceOptions } from './storage/memory/memory-learning.js';
export type {
  LearningPersistence,
  LoadedLearning,
  StorageLearningOptions,
} from './storage/learning.js';
export { openFileLearningPersistence } from './learning/file-persistence.js';
export type { FileLearningPersistenceOptions } from './learning/file-persistence.js';
export { acquireFileLock } from './storage/file-lock.js';
export type { FileLock, FileLockOptions } from './storage/file-lock.js';

export { createKernel } from './kernel.js';
export type { Kernel, KernelCore, KernelOptions, ChainTarget } from './kernel.js';
export {
  resolveConfig,
  prepareStateDir,
  DEFAULT_HOME,
  DEFAULT_BUS_URL,
  KERNO_HOME_ENV,
  KERNO_STORE_ENV,
  KERNO_BUS_ENV,
  KERNO_REGISTRY_KEY_ENV,
  OXIDE_REGISTRY_KEY_ENV,
  KERNO_NEW_REGISTRY_KEY_ENV,
  KERNO_URL_ENV,
  KERNO_TOKEN_ENV,
  KERNO_DEMO_PACE_ENV,
} from './config.js';
export type { ConfigOptions, KernoConfig } from './config.js';
export { importRvls } from './learning/learning-import.js';
export type { LearningImportResult, LearningImportOptions } from './learning/learning-import.js';

export { Registry, openRegistry } from './registry/registry.js';
export type {
  ModuleMetadata,
  ConfigInfo,
  SetConfigOptions,
  RegistryInfo,
  RekeyResult,
  RegistryOptions,
  ConfigView,
  EncryptPlainResult,
} from './registry/registry.js';
export {
  ConfigCipher,
  OxideCipher,
  DEFAULT_SCRYPT,
  deriveKey,
  isKernoCiphertext,
} from './registry/config-cipher.js';
export type { CipherMeta, ScryptParams, CreateCipherOptions } from './registry/config-cipher.js';
export { MODULE_KINDS, isModuleKind, isModuleState } from './storage/registry.js';
export type {
  ModuleKind,
  ModuleRecord,
  ModuleWriteResult,
  StoredConfig,
  MetaCondition,
  RegistryCommit,
  CommitResult,
  RegistryStore,
} from './storage/registry.js';

export { createSupervisor, Supervisor } from './supervisor/supervisor.js';
export { validateAgentSpec } from './supervisor/agent-spec.js';
export { AGENT_ENV_ALLOW, inheritedAgentEnv } from './supervisor/agent-env.js';
export { secretEnvName } from './supervisor/agent-secrets.js';
export type {
  AgentSecretGrant,
  AgentSecretRef,
  SecretResolver,
} from './supervisor/agent-secrets.js';
export type {
  SupervisorOptions,
  SupervisorStatus,
  SupervisorStats,
  ChildCounts,
  SpawnOptions,
  AgentHandle,
} from './supervisor/supervisor.js';
export {
  AGENT_STATUSES,
  AUTO_SHUTDOWNS,
  moduleStateOf,
  failureFromError,
  serviceUnavailable,
} from './supervisor/agent.js';
export type {
  AgentStatus,
  AgentKind,
  AgentRef,
  AgentContext,
  AgentSpec,
  AgentSpecBase,
  FunctionAgentSpec,
  ProcessAgentSpec,
  SupervisorChildSpec,
  NestedSupervisorSpec,
  AgentApprovalRequest,
  AgentApprovalDecision,
  AgentLedgerOptions,
  SupervisorServices,
  ModuleStatePort,
  AgentPatchContext,
  AgentPatchResult,
  AgentEndReason,
  AutoShutdown,
  AgentOutcome,
  AgentInfo,
  AgentFailure,
  FailureDecision,
  FailurePolicy,
  AgentHealthReport,
  SupervisorHealthListener,
} from './supervisor/agent.js';
export {
  RESTART_STRATEGIES,
  RESTART_TYPES,
  DEFAULT_RESTART_INTENSITY,
  DEFAULT_BACKOFF,
  resolveIntensity,
  resolveBackoff,
  backoffDelay,
  shouldRestart,
  restartScope,
  createRestartIntensity,
} from './supervisor/restart-strategy.js';
export type {
  RestartStrategy,
  RestartType,
  RestartIntensity,
  BackoffPolicy,
  RestartIntensityCounter,
} from './supervisor/restart-strategy.js';
export {
  parseAgentMessage,
  parseApprovalRequest,
  MAX_AGENT_LINE,
} from './supervisor/process-agent.js';
export type { AgentMessage, AgentMessageId } from './supervisor/process-agent.js';
export type {
  AgentGroupInput,
  AgentGroupOptions,
  AgentGroupMember,
  AgentGroupResult,
} from './supervisor/agent-group.js';

export { createSelfHealing } from './recovery/self-healing.js';
export type { SelfHealing, SelfHealingOptions } from './recovery/self-healing.js';
export { agentConfigKeys, createKnownGoodConfigs } from './recovery/known-good.js';
export type { KnownGoodConfigs } from './recovery/known-good.js';
export {
  regressionPolicy,
  failureSignature,
  REGRESSION_WINDOW_MS,
} from './recovery/regression-policy.js';
export { createRunHealing, runFailureSignal } from './recovery/run-healing.js';
export type { RunHealing, RunHealingOptions } from './recovery/run-healing.js';
export type { RegressionPolicyOptions } from './recovery/regression-policy.js';
export { recordRecoveryOutcome, recoveryOutcomeEvent } from './recovery/recovery-outcome.js';
export type { RecoveryOutcomeSinks, RecoveryIncidentInfo } from './recovery/recovery-outcome.js';
export { rerunOnLateApproval } from './recovery/late-escalation.js';
export type { LateApprovalOptions, RerunTarget } from './recovery/late-escalation.js';

// Durable runs
export { createRunEngine, RunEngine } from './runs/run-engine.js';
export type {
  AgentDefinition,
  RunHandle,
  RunInfo,
  RunListQuery,
  RunStepInfo,
  RunSummary,
  RunWait,
  RunStartOptions,
  RunResumeOptions,
  RunResumeInfo,
  RunForkOptions,
  RunForkOf,
  Runs,
  RunApprovals,
  RunBudgets,
  RunEngineOptions,
  RunRecoveryNote,
  RunPatchContext,
  RunPatchResult,
  RunRules,
} from './runs/run-engine.js';
export type { RunRecoveryAction } from './runs/journal.js';
export { BudgetExceededError, StepFailedError } from './runs/run-context.js';
export { compareRuns, pickWinner, runOutcome } from './runs/run-outcomes.js';
export type { RunComparison, RunOutcome, StepComparison } from './runs/run-outcomes.js';
export type {
  RunBudgetBreach,
  RunBudgetHost,
  RunUsageReport,
  RunContext,
  StepOptions,
  StepRetryPolicy,
  StepScope,
  RunApprovalRequest,
  RunApprovalDecision,
  RunAuthorizeRequest,
} from './runs/run-context.js';
// Budgets (policy kind `budget`)
export {
  BUDGET_GATE_ACTION,
  BUDGET_RESOURCES,
  Budgets,
  WINDOW_BUCKETS,
  createBudgets,
  formatMicros,
  parseBudget,
  parseUsageReport,
  raisedLimit,
} from './policies/budgets.js';
export type {
  BudgetBreach,
  BudgetDecisionInput,
  BudgetResource as BudgetLimitResource,
  BudgetSpec,
  BudgetSubject,
  BudgetUsage,
  BudgetsOptions,
  UsageReport,
  UsageTotals,
} from './policies/budgets.js';
export { RUN_INDEX_STREAM, journalStream, journalView, runIndexView } from './runs/journal.js';
export type { RunStatus, JournalEntry, RunIndexEntry, RecordedError } from './runs/journal.js';

// Telemetry (OpenTelemetry traces and metrics; see README "Observability")
export {
  parseTraceparent,
  formatTraceparent,
  isTracestate,
  traceHeaders,
  contextFromHeaders,
} from './util/trace-context.js';
export type { SpanContext, TraceHeaders } from './util/trace-context.js';
export { openTelemetry } from './telemetry/telemetry.js';
export type {
  Telemetry,
  TelemetryOptions,
  TelemetryStats,
  RunTracer,
  ExecutionTrace,
  StepTrace,
  AttemptTrace,
} from './telemetry/telemetry.js';
export { resolveOtlpConfig, otlpMetricsBody, parsePrometheusText } from './telemetry/otlp.js';
export type { OtlpConfig, MetricSample, MetricCollector, ExporterStats } from './telemetry/otlp.js';
export type { TraceSink, LiveSpan, SpanStart, SpanEnd, Attributes } from './telemetry/tracer.js';
export type { RunAdmission, AdmissionRequest } from './runs/run-engine.js';

// Schedules and limits (policy kinds `schedule` and `limit`)
export {
  parseCron,
  nextCronTime,
  parseTimeZone,
  toInstant,
  wallClock,
  formatWallClock,
} from './policies/cron.js';
export type { CronExpression } from './policies/cron.js';
export {
  Scheduler,
  createScheduler,
  compileSchedule,
  parseScheduleSpec,
  scheduledRunId,
} from './policies/schedules.js';
export type {
  ScheduleSpec,
  ScheduleInfo,
  ScheduleOptions,
  SchedulerOptions,
  MissedPolicy,
  CompiledSchedule,
} from './policies/schedules.js';
export { Limiter, createLimiter, parseLimitSpec } from './policies/limits.js';
export type { LimitSpec, LimitQueue, QueuedEntry, LimiterOptions } from './policies/limits.js';
