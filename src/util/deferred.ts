/**
 * A promise with its settle functions, for Node 20 (which has no `Promise.withResolvers`).
 *
 * @example
 * import { deferred } from './deferred.js';
 * const ready = deferred<void>();
 * setTimeout(() => ready.resolve(), 10);
 * await ready.promise;
 *
 * @module
 */

/** A promise and the functions that settle it. */
export interface Deferred<T> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
  reject(reason: unknown): void;
}

/** Creates a {@link Deferred}; settling it again does nothing. */
export function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (reason: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}
