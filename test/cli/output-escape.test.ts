import { describe, expect, it } from 'vitest';
import { escapeControl, formatTable } from '../../src/cli/output.js';

describe('CLI tables and terminal escapes', () => {
  it('prints control characters in cells as visible escapes, never raw', () => {
    const name = 'evil\u001b]0;pwned\u0007\u001b[2J\rname';
    const out = formatTable(['NAME', 'KEY'], [[name, 'k\u009bx\n']]);
    // eslint-disable-next-line no-control-regex
    expect(out).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/);
    expect(out).toContain('evil\\x1b]0;pwned\\x07\\x1b[2J\\x0dname');
    expect(out).toContain('k\\x9bx\\x0a');
    expect(out.split('\n')).toHaveLength(4);
    expect(escapeControl('plain é ✓')).toBe('plain é ✓');
  });
});
