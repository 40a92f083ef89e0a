import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { errorText } from './api.js';
import { subscribe, type LiveEvent } from './live.js';

/** The hash route: `#/runs/abc?status=failed` → path `/runs/abc`, query. */
export interface Route {
  readonly path: string;
  readonly parts: readonly string[];
  readonly query: URLSearchParams;
}

function parseRoute(): Route {
  const raw = location.hash.startsWith('#') ? location.hash.slice(1) : location.hash;
  const [p = '/', q = ''] = raw.split('?', 2);
  const path = p === '' ? '/' : p;
  return {
    path,
    parts: path
      .split('/')
      .filter((s) => s !== '')
      .map((s) => {
        try {
          return decodeURIComponent(s);
        } catch {
          return s;
        }
      }),
    query: new URLSearchParams(q),
  };
}

export function useRoute(): Route {
  const [route, setRoute] = useState(parseRoute);
  useEffect(() => {
    const on = (): void => setRoute(parseRoute());
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return route;
}

/** A link target for a route; `query` values that are empty are left out. */
export function href(path: string, query: Record<string, string | undefined> = {}): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== '') q.set(k, v);
  const s = q.toString();
  return `#${path}${s === '' ? '' : `?${s}`}`;
}

export function navigate(path: string, query: Record<string, string | undefined> = {}): void {
  location.hash = href(path, query).slice(1);
}

/** Now, ticking every `everyMs` (for countdowns and "checked N s ago"). */
export function useNow(everyMs = 1000): number {
  const [now, setNow] = useState(Date.now);
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), everyMs);
    return () => clearInterval(t);
  }, [everyMs]);
  return now;
}

/** Re-renders when live events arrive (all of them, or those `match` accepts), debounced. */
export function useLiveTick(match?: (e: LiveEvent) => boolean, debounceMs = 200): number {
  const [tick, setTick] = useState(0);
  const matchRef = useRef(match);
  matchRef.current = match;
  useEffect(() => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const off = subscribe((added) => {
      const m = matchRef.current;
      if (added.length > 0 && m !== undefined && !added.some(m)) return;
      if (timer !== undefined) return;
      timer = setTimeout(() => {
        timer = undefined;
        setTick((t) => t + 1);
      }, debounceMs);
    });
    return () => {
      off();
      if (timer !== undefined) clearTimeout(timer);
    };
  }, [debounceMs]);
  return tick;
}

export interface Loaded<T> {
  readonly data: T | undefined;
  readonly error: string | undefined;
  /** Epoch ms of the last successful load. */
  readonly checkedAt: number | undefined;
  readonly loading: boolean;
  readonly reload: () => void;
}

/**
 * Loads `load()` now, again when `deps` change, every `everyMs`, and when a live event that
 * `refreshOn` accepts arrives. Keeps the last data while reloading.
 */
export function useLoad<T>(
  load: () => Promise<T>,
  deps: readonly unknown[],
  options: { everyMs?: number; refreshOn?: (e: LiveEvent) => boolean } = {},
): Loaded<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const [checkedAt, setCheckedAt] = useState<number | undefined>(undefined);
  const [loading, setLoading] = useState(true);
  const [nonce, setNonce] = useState(0);
  const tick = useLiveTick(options.refreshOn ?? (() => false), 250);
  const loadRef = useRef(load);
  loadRef.current = load;
  useEffect(() => {
    let live = true;
    setLoading(true);
    loadRef
      .current()
      .then((d) => {
        if (!live) return;
        setData(d);
        setError(undefined);
        setCheckedAt(Date.now());
      })
      .catch((e: unknown) => {
        if (live) setError(errorText(e));
      })
      .finally(() => {
        if (live) setLoading(false);
      });
    return () => {
      live = false;
    };
  }, [...deps, nonce, tick]);
  const everyMs = options.everyMs;
  useEffect(() => {
    if (everyMs === undefined) return undefined;
    const t = setInterval(() => setNonce((n) => n + 1), everyMs);
    return () => clearInterval(t);
  }, [everyMs]);
  const reload = useCallback(() => setNonce((n) => n + 1), []);
  return { data, error, checkedAt, loading, reload };
}

/** Changes the query of the current page without adding a history entry (filters as you type). */
export function replaceQuery(path: string, query: Record<string, string | undefined>): void {
  history.replaceState(null, '', `${location.pathname}${href(path, query)}`);
  dispatchEvent(new HashChangeEvent('hashchange'));
}
