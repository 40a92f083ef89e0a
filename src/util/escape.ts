/**
 * Escaping text another program wrote (an agent's stderr, a step key) before it reaches a
 * terminal or an error message: control characters (ANSI escapes, carriage returns, NUL) are
 * shown as `\uXXXX`, so they can neither repaint the screen nor hide what came before.
 *
 * @module
 */

/** `text` with every C0/C1 control character but newline and tab written as `\uXXXX`. */
export function escapeControl(text: string): string {
  return text.replace(
    // eslint-disable-next-line no-control-regex -- matching control characters is the point
    /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}
