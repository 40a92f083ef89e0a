import type { ComponentChildren } from 'preact';
import { useEffect, useRef } from 'preact/hooks';
import { pretty } from '../format.js';
import { useNow } from '../hooks.js';

/** A status word with its colour class (the word itself is the information, not the colour). */
export function Status({ word, title }: { word: string; title?: string }) {
  return (
    <span class={`status s-${word.replace(/[^a-z_-]/gi, '')}`} title={title}>
      {word}
    </span>
  );
}

/** "checked 3 s ago" (or the error, with the time of the last good load). */
export function Checked({
  at,
  error,
  onRefresh,
}: {
  at: number | undefined;
  error?: string | undefined;
  onRefresh?: () => void;
}) {
  const now = useNow(1000);
  const ago =
    at === undefined
      ? 'not loaded yet'
      : `checked ${String(Math.max(0, Math.round((now - at) / 1000)))} s ago`;
  return (
    <span class="checked" aria-live="polite">
      {error !== undefined ? <span class="bad">{error} · </span> : null}
      <span class="muted">{ago}</span>
      {onRefresh === undefined ? null : (
        <button type="button" class="ghost small" onClick={onRefresh}>
          Refresh
        </button>
      )}
    </span>
  );
}

/** A value shown as a one-line summary that opens to the full, pretty-printed JSON. */
export function Expand({ summary, value }: { summary: ComponentChildren; value: unknown }) {
  return (
    <details class="expand">
      <summary>{summary}</summary>
      <pre>{pretty(value)}</pre>
    </details>
  );
}

export function Empty({ children }: { children: ComponentChildren }) {
  return <p class="muted empty">{children}</p>;
}

export function ErrorNote({ error }: { error: string | undefined }) {
  return error === undefined ? null : (
    <p class="error" role="alert">
      {error}
    </p>
  );
}

const FOCUSABLE =
  'a[href], button:not([disabled]), textarea:not([disabled]), input:not([disabled]), select:not([disabled]), [tabindex]:not([tabindex="-1"])';

/**
 * A modal dialog: focus moves in and stays in (Tab wraps), Esc or Cancel closes it, focus
 * returns to what opened it.
 */
export function Dialog({
  title,
  onClose,
  children,
}: {
  title: string;
  onClose: () => void;
  children: ComponentChildren;
}) {
  const box = useRef<HTMLDivElement>(null);
  const closeRef = useRef(onClose);
  closeRef.current = onClose;
  useEffect(() => {
    const opener = document.activeElement as HTMLElement | null;
    const el = box.current;
    const first = el?.querySelector<HTMLElement>('[autofocus], ' + FOCUSABLE);
    first?.focus();
    const onKey = (e: KeyboardEvent): void => {
      if (el === null) return;
      if (e.key === 'Escape') {
        e.preventDefault();
        closeRef.current();
        return;
      }
      if (e.key !== 'Tab') return;
      const items = [...el.querySelectorAll<HTMLElement>(FOCUSABLE)];
      if (items.length === 0) return;
      const a = items[0]!;
      const z = items[items.length - 1]!;
      if (e.shiftKey && document.activeElement === a) {
        e.preventDefault();
        z.focus();
      } else if (!e.shiftKey && document.activeElement === z) {
        e.preventDefault();
        a.focus();
      } else if (!el.contains(document.activeElement)) {
        e.preventDefault();
        a.focus();
      }
    };
    document.addEventListener('keydown', onKey);
    return () => {
      document.removeEventListener('keydown', onKey);
      opener?.focus();
    };
  }, []);
  return (
    <div class="backdrop" onClick={(e) => e.target === e.currentTarget && onClose()}>
      <div class="dialog" role="dialog" aria-modal="true" aria-labelledby="dialog-title" ref={box}>
        <h2 id="dialog-title">{title}</h2>
        {children}
      </div>
    </div>
  );
}

/** Parses JSON typed by a person; an empty box is `undefined`. */
export function parseJsonInput(text: string, what: string): { value?: unknown; error?: string } {
  if (text.trim() === '') return {};
  try {
    return { value: JSON.parse(text) as unknown };
  } catch (e) {
    return { error: `${what} is not valid JSON: ${e instanceof Error ? e.message : String(e)}` };
  }
}
