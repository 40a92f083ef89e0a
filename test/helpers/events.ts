import {
  KERNEL_EVENT_FIELDS,
  KERNEL_EVENT_TYPES,
  parseKernelEvent,
  seededRandom,
  createUuidV7,
  ManualClock,
  type FieldSpec,
  type KernelEvent,
  type KernelEventType,
} from '../../src/index.js';

/** A valid event of `type` with field values derived from `seed` (deterministic). */
export function sampleEvent(type: KernelEventType, seed = 1): KernelEvent {
  const random = seededRandom(seed);
  const ids = createUuidV7({ clock: new ManualClock(1_780_000_000_000 + seed), random });
  const value = (spec: FieldSpec, name: string): unknown => {
    if (typeof spec === 'string') {
      switch (spec) {
        case 'string':
          return `${name} "quoted" \\ line\nnext ünïcödé ${seed}`;
        case 'uuid':
          return ids();
        case 'bool':
          return seed % 2 === 0;
        case 'u32':
          return (seed * 7919) % 4_294_967_295;
        case 'usize':
          return seed * 13;
        case 'u64':
          return seed * 1_000_003;
        case 'json':
          return { path: `/src/${name}.rs`, n: seed, nested: [true, null, 'x'] };
        case 'f64':
          return seed % 3 === 0 ? seed : seed + 0.85;
      }
    }
    if ('enum' in spec) return spec.enum[seed % spec.enum.length];
    if ('optional' in spec) return seed % 2 === 0 ? undefined : value(spec.optional, name);
    return seed % 2 === 0 ? null : value(spec.nullable, name);
  };
  const fields = KERNEL_EVENT_FIELDS[type] as Record<string, FieldSpec>;
  const raw: Record<string, unknown> = { type };
  for (const [name, spec] of Object.entries(fields)) {
    const v = value(spec, name);
    if (v !== undefined) raw[name] = v;
  }
  return parseKernelEvent(raw);
}

/** One sample of every variant, for several seeds. */
export function everyEvent(seeds: readonly number[] = [1, 2, 3]): KernelEvent[] {
  return seeds.flatMap((seed) => KERNEL_EVENT_TYPES.map((t) => sampleEvent(t, seed)));
}

/** Collects up to `n` items from an async iterator. */
export { take } from '../../src/testing/harness.js';
