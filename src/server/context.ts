/**
 * What every route module receives.
 *
 * @module
 */
import type { Kernel } from '../kernel.js';
import type { EventFeed } from './event-feed.js';

/** Shared by the route modules. */
export interface ServerContext {
  readonly kernel: Kernel;
  readonly feed: EventFeed;
  readonly version: string;
  readonly startedAt: number;
  /** Largest streamed upload (NDJSON / RVLS imports), bytes. */
  readonly importLimit: number;
}
