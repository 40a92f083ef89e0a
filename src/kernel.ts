/**
 * The composition root: `createKernel(options)` opens the store, the bus and every part on them,
 * wires them together, and gives one object to use and to close.
 *
 * @example
 * const kernel = await createKernel({ store: 'sqlite:.kerno/kerno.db' });
 * await kernel.ledger.append(event, { tenantId: 't1' });
 * await kernel.close();
 *
 * @module
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createApprovalGate, type ApprovalGate } from './approvals/approval-gate.js';
import { createAuditTrail, type AuditTrail } from './audit/audit-trail.js';
import type { EventBus } from './bus/event-bus.js';
import { openBus } from './bus/open-bus.js';
import { errorMessage, isKernelError } from './errors.js';
import {
  createLearningStore,
  openLearningStore,
  type LearningStore,
} from './learning/learning-store.js';
import type { LearningPersistence } from './learning/persistence.js';
import { createLedger, type Ledger } from './ledger/ledger.js';
import { createRecoveryLogStore, type RecoveryLogStore } from './recovery/recovery-store.js';
import { openRegistry, type Registry } from './registry/registry.js';
import { createSelfHealing, type SelfHealing } from './recovery/self-healing.js';
import type { RecoveryPolicy } from './recovery/recovery-types.js';
import type { AgentSpec } from './supervisor/agent.js';
import { createSupervisor, type AgentHandle, type Supervisor } from './supervisor/supervisor.js';
import type { BackoffPolicy, RestartIntensity } from './supervisor/restart-strategy.js';
import { openStorage } from './storage/open-storage.js';
import type { Storage } from './storage/storage.js';
import { systemClock, type Clock } from './util/clock.js';
import { createUuidV7, type IdGenerator } from './util/ids.js';
import { createStderrLogger, type Logger } from './util/logger.js';
import { systemRandom, type Random } from './util/random.js';

/** Options for {@link createKernel}. */
export interface KernelOptions {
  /**
   * Storage URL (`memory:`, `sqlite:<path>`, `postgres://…`) or an open storage. Default:
   * `KERNO_STORE`, else `sqlite:<stateDir>/kerno.db`.
   */
  readonly store?: string | Storage;
  /** Bus URL (`memory`, `nats://host:4222?tenant=…`; default `KERNO_BUS`, else memory) or a bus. */
  readonly bus?: string | EventBus;
  /** Folder for kerno's files (token, learning file, recovery artifacts). Default: `KERNO_HOME`, else `.kerno`. */
  readonly stateDir?: string;
  /** The learning store's RVLS file; `null` keeps it in memory. Default: `<stateDir>/learning.rvls` (in memory for a `memory:` store). */
  readonly learningFile?: string | null;
  /** Where recovery artifacts are written. Default: `<stateDir>/recovery`. */
  readonly recoveryDir?: string;
  readonly clock?: Clock;
  readonly random?: Random;
  readonly logger?: Logger;
  /** How long after a change the learning store is persisted (default 1000 ms). */
  readonly learningPersistDelayMs?: number;
  /** The registry's key string (default: `KERNO_REGISTRY_KEY`). */
  readonly registryKey?: string;
  /** scrypt cost for a registry key created now (tests lower it). */
  readonly registryScryptCost?: number;
  /** Recovery policy defaults for every agent (each agent's `recovery` overrides them). */
  readonly recoveryPolicy?: Partial<RecoveryPolicy>;
  /** A restarted agent healthy this long counts as recovered (default 10 s). */
  readonly healthyAfterMs?: number;
  /** The kernel supervisor's restart intensity (default 3 in 5 s) and backoff. */
  readonly intensity?: Partial<RestartIntensity>;
  readonly backoff?: Partial<BackoffPolicy>;
}

/** A running kernel. */
export interface Kernel extends AsyncDisposable {
  readonly stateDir: string;
  readonly storage: Storage;
  readonly bus: EventBus;
  readonly audit: AuditTrail;
  readonly ledger: Ledger;
  readonly approvals: ApprovalGate;
  readonly recoveries: RecoveryLogStore;
  readonly learning: LearningStore;
  readonly registry: Registry;
  /** The kernel's top supervisor: self-healing, approvals and ledger are wired in. */
  readonly supervisor: Supervisor;
  readonly selfHealing: SelfHealing;
  /** Starts an agent under the kernel supervisor (the same as `supervisor.spawn`). */
  spawn<C = unknown, R = unknown>(spec: AgentSpec<C, R>): Promise<AgentHandle<R>>;
  readonly recoveryDir: string;
  readonly clock: Clock;
  readonly random: Random;
  readonly ids: IdGenerator;
  readonly logger: Logger;
  /** Persists the learning store now if it has unsaved changes. */
  persistLearning(): Promise<void>;
  /** Stops everything in order and releases the store. Idempotent. */
  close(): Promise<void>;
}

/** The state folder: `KERNO_HOME`, else `.kerno` in the working directory. */
export function defaultStateDir(): string {
  return resolve(process.env['KERNO_HOME'] ?? '.kerno');
}

/** Opens a kernel. */
export async function createKernel(options: KernelOptions = {}): Promise<Kernel> {
  const clock = options.clock ?? systemClock;
  const random = options.random ?? systemRandom;
  const logger = options.logger ?? createStderrLogger('warn');
  const ids = createUuidV7({ clock, random });
  const stateDir = resolve(options.stateDir ?? defaultStateDir());
  const storeUrl =
    options.store ?? process.env['KERNO_STORE'] ?? `sqlite:${join(stateDir, 'kerno.db')}`;
  const storage = typeof storeUrl === 'string' ? await openStorage(storeUrl, { logger }) : storeUrl;
  const cleanups: (() => Promise<void>)[] = [];
  try {
    const busUrl = options.bus ?? process.env['KERNO_BUS'] ?? 'memory';
    const bus: EventBus = typeof busUrl === 'string' ? await openBus(busUrl, { logger }) : busUrl;
    cleanups.push(() => bus.close());

    const audit = createAuditTrail({ log: storage.log, clock, logger });
    const detachAudit = audit.attach(bus);
    cleanups.push(async () => {
      detachAudit();
      await audit.flush();
    });
    const ledger = createLedger({ log: storage.log, clock, ids });
    const approvals = createApprovalGate({ log: storage.log, bus, ledger, clock, ids, logger });
    await approvals.start();
    cleanups.push(() => approvals.close());
    const recoveries = createRecoveryLogStore(storage.log);
    const registry = await openRegistry({
      storage,
      bus,
      clock,
      random,
      ...(options.registryKey === undefined ? {} : { key: options.registryKey }),
      ...(options.registryScryptCost === undefined
        ? {}
        : { scryptCost: options.registryScryptCost }),
    });
    cleanups.push(() => registry.close());

    // Learning records live in the store when it keeps them (PostgreSQL), else in an RVLS file
    // beside it (SQLite), else in memory.
    const inStore = options.learningFile === undefined && storage.openLearning !== undefined;
    const learningFile =
      options.learningFile === undefined
        ? storage.kind === 'memory' || inStore
          ? null
          : join(stateDir, 'learning.rvls')
        : options.learningFile;
    let persistable = learningFile !== null;
    let learning: LearningStore;
    if (inStore) {
      let persistence: LearningPersistence;
      try {
        persistence = await storage.openLearning!();
        persistable = true;
      } catch (error) {
        if (!isKernelError(error, 'STORE_LOCKED')) throw error;
        logger.warn(
          'Another kernel holds the shared learning store: this one reads it and keeps its own learning in memory',
          { store: storage.url },
        );
        persistence = await storage.openLearning!({ readOnly: true });
      }
      learning = createLearningStore({ persistence, clock, logger, ids });
      await learning.load();
    } else {
      learning =
        learningFile === null
          ? createLearningStore({ clock, logger, ids })
          : await openLearningStore(learningFile, { clock, logger, ids });
    }
    // The learning store is changed by agents and the recovery loop alike: persist whatever is
    // dirty on a short interval (each persist is crash-safe) and once more on close.
    let persisting: Promise<void> = Promise.resolve();
    const persistLearning = (): Promise<void> =>
      (persisting = persisting.then(async () => {
        if (persistable && learning.stats().isDirty) await learning.persist();
      }));
    const persistTimer = !persistable
      ? undefined
      : setInterval(() => {
          persistLearning().catch((error: unknown) =>
            logger.error('Could not persist the learning store', { error: errorMessage(error) }),
          );
        }, options.learningPersistDelayMs ?? 1000);
    persistTimer?.unref();
    cleanups.push(async () => {
      clearInterval(persistTimer);
      await persistLearning();
      await learning.close();
    });

    const recoveryDir = resolve(options.recoveryDir ?? join(stateDir, 'recovery'));
    const writeArtifacts = storage.kind !== 'memory' || options.recoveryDir !== undefined;
    if (writeArtifacts) mkdirSync(recoveryDir, { recursive: true });

    const selfHealing = createSelfHealing({
      bus,
      ledger,
      learning,
      recoveries,
      approvals,
      registry,
      artifactsDir: writeArtifacts ? recoveryDir : undefined,
      clock,
      ids,
      logger,
      ...(options.recoveryPolicy === undefined ? {} : { policy: options.recoveryPolicy }),
    });
    const supervisor = createSupervisor({
      name: 'kernel',
      bus,
      clock,
      random,
      ids,
      logger,
      modules: registry,
      recovery: selfHealing.policy,
      onHealth: selfHealing.onHealth,
      healthyAfterMs: options.healthyAfterMs,
      ...(options.intensity === undefined ? {} : { intensity: options.intensity }),
      ...(options.backoff === undefined ? {} : { backoff: options.backoff }),
      services: {
        requestApproval: async (agent, request, signal) => {
          const d = await approvals.request(
            { agentId: agent.id, agentName: agent.name, origin: 'agent', ...request },
            { signal },
          );
          return { approved: d.approved, reason: d.reason };
        },
        appendLedger: (agent, event, opts) =>
          ledger.append(event, { ...opts, correlationId: opts.correlationId ?? agent.id }),
      },
    });
    const detachHealing = selfHealing.attach(supervisor);
    const spawn = <C, R>(spec: AgentSpec<C, R>): Promise<AgentHandle<R>> => supervisor.spawn(spec);
    cleanups.push(async () => {
      detachHealing();
      await supervisor.close();
      selfHealing.close();
    });

    let closing: Promise<void> | undefined;
    const close = (): Promise<void> =>
      (closing ??= (async () => {
        for (const cleanup of [...cleanups].reverse()) {
          try {
            await cleanup();
          } catch (error) {
            logger.error('A kernel part failed to close cleanly', { error: errorMessage(error) });
          }
        }
        await storage.close();
      })());

    return {
      stateDir,
      storage,
      bus,
      audit,
      ledger,
      approvals,
      recoveries,
      learning,
      registry,
      supervisor,
      selfHealing,
      spawn,
      recoveryDir,
      clock,
      random,
      ids,
      logger,
      persistLearning,
      close,
      [Symbol.asyncDispose]: close,
    };
  } catch (error) {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
    await storage.close();
    throw error;
  }
}
