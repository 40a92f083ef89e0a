/**
 * Opens the event bus a URL names: `memory` (the in-process default) or `nats://host:port`
 * (JetStream, spanning processes). The NATS client is loaded only for a `nats://` URL.
 *
 * Query parameters of a NATS URL set the tenant, the subject prefix and the stream:
 * `nats://127.0.0.1:4222?tenant=acme&subjectPrefix=kerno&stream=kerno_acme`.
 *
 * @example
 * const bus = await openBus(resolveConfig().bus);
 *
 * @module
 */
import { resolveConfig } from '../config.js';
import { KernelError } from '../errors.js';
import type { EventBus } from './event-bus.js';
import { createMemoryBus, type MemoryBusOptions } from './memory-bus.js';
import type { NatsBusOptions } from './nats/nats-bus.js';

/** Options for {@link openBus}: the memory bus options, plus NATS options for `nats://`. */
export type OpenBusOptions = MemoryBusOptions & Partial<Omit<NatsBusOptions, 'servers'>>;

/** A parsed bus URL. */
export type BusLocation =
  | { readonly kind: 'memory' }
  | {
      readonly kind: 'nats';
      readonly servers: readonly string[];
      readonly tenant?: string;
      readonly subjectPrefix?: string;
      readonly streamName?: string;
    };

/** Parses a bus URL; throws `INVALID_ARGUMENT` naming the accepted forms. */
export function parseBusUrl(url: string): BusLocation {
  const text = url.trim();
  if (text === 'memory' || text === 'memory:') return { kind: 'memory' };
  if (text.startsWith('nats://') || text.startsWith('tls://')) {
    const q = text.indexOf('?');
    const servers = (q === -1 ? text : text.slice(0, q))
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
    const params = new URLSearchParams(q === -1 ? '' : text.slice(q + 1));
    for (const key of params.keys()) {
      if (key !== 'tenant' && key !== 'subjectPrefix' && key !== 'stream') {
        throw new KernelError(
          'INVALID_ARGUMENT',
          `Unknown bus URL parameter "${key}" in "${url}"; use tenant, subjectPrefix or stream`,
        );
      }
    }
    const tenant = params.get('tenant');
    const subjectPrefix = params.get('subjectPrefix');
    const streamName = params.get('stream');
    return {
      kind: 'nats',
      servers,
      ...(tenant === null ? {} : { tenant }),
      ...(subjectPrefix === null ? {} : { subjectPrefix }),
      ...(streamName === null ? {} : { streamName }),
    };
  }
  throw new KernelError(
    'INVALID_ARGUMENT',
    `Unknown bus "${url}"; use memory, or nats://host:4222 for a bus spanning processes`,
  );
}

/** Opens the bus named by `url` (default: the configured bus, `KERNO_BUS`, else `memory`). */
export async function openBus(
  url: string = resolveConfig().bus,
  options: OpenBusOptions = {},
): Promise<EventBus> {
  const location = parseBusUrl(url);
  if (location.kind === 'memory') return createMemoryBus(options);
  const { createNatsBus } = await import('./nats/nats-bus.js');
  return createNatsBus({ ...options, ...location });
}
