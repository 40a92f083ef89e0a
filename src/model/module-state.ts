/**
 * Module vocabulary shared by the bus, the registry and every storage backend: a module's
 * lifecycle state and execution layer (oxide-k `ModuleState` and `ModuleKind`, snake_case).
 * Imports nothing of kerno, so the storage layer can use it without reaching up into the bus.
 *
 * @example
 * isModuleState('running'); // true
 *
 * @module
 */

/** Lifecycle states of a module (oxide-k `ModuleState`, snake_case). */
export const MODULE_STATES = [
  'loaded',
  'starting',
  'running',
  'stopping',
  'stopped',
  'failed',
] as const;
/** A module's lifecycle state. */
export type ModuleState = (typeof MODULE_STATES)[number];

/** Whether `value` is a {@link ModuleState}. */
export function isModuleState(value: unknown): value is ModuleState {
  return (MODULE_STATES as readonly unknown[]).includes(value);
}

/** How a module runs (oxide-k `ModuleKind`, snake_case). */
export const MODULE_KINDS = ['native', 'wasm'] as const;
/** A module's execution layer. */
export type ModuleKind = (typeof MODULE_KINDS)[number];

/** Whether `value` is a {@link ModuleKind}. */
export function isModuleKind(value: unknown): value is ModuleKind {
  return (MODULE_KINDS as readonly unknown[]).includes(value);
}
