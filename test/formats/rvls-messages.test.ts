/**
 * What a user reads when an RVLS file cannot be loaded at all: the problem, the file, and what
 * to do, word for word (the text is the whole of the diagnosis). Found by mutation testing
 * (docs/testing.md).
 */
import { describe, expect, it } from 'vitest';
import { isKernelError } from '../../src/errors.js';
import { decodeRvls } from '../../src/formats/rvls.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const ADVICE =
  'Nothing was loaded; restore the file from a backup, or move it aside to start with an empty store.';

function messageOf(bytes: Uint8Array, source?: string): string {
  try {
    decodeRvls(bytes, source);
  } catch (error) {
    expect(isKernelError(error, 'INVALID_RVLS_FILE')).toBe(true);
    return (error as Error).message;
  }
  throw new Error('expected INVALID_RVLS_FILE, the file was read');
}

describe('RVLS file refusals', () => {
  it('says what is wrong, names the file and what to do', () => {
    const file = '/data/learning.rvls';
    expect(messageOf(enc('RVLS'), file)).toBe(
      `RVLS file too short (it needs at least the "RVLS\\n" header and the "REND" footer): ${file}. ${ADVICE}`,
    );
    expect(messageOf(enc('NOPE\n\nREND'), file)).toBe(
      `Invalid RVLS magic header (expected "RVLS\\n"): ${file}. ${ADVICE}`,
    );
    expect(messageOf(enc('RVLS\n{}\nREN'), file)).toBe(
      `Invalid RVLS magic footer (expected "REND" at the very end; the file may be truncated): ${file}. ${ADVICE}`,
    );
    expect(messageOf(new Uint8Array([...enc('RVLS\n'), 0xff, ...enc('\nREND')]), file)).toBe(
      `RVLS body is not valid UTF-8: ${file}. ${ADVICE}`,
    );
  });

  it('calls bytes without a file name "RVLS data"', () => {
    expect(messageOf(enc('NOPE\n\nREND'))).toBe(
      `Invalid RVLS magic header (expected "RVLS\\n"): RVLS data. ${ADVICE}`,
    );
  });
});
