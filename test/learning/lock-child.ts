/**
 * Lock-test child: `node --import tsx lock-child.ts <file>`. Opens the store for writing, says
 * `locked <pid>`, persists once, and closes cleanly when its stdin ends.
 */
import { openLearningStore } from '../../src/index.js';

const [file] = process.argv.slice(2) as [string];
const store = await openLearningStore(file);
store.recordEwcTask('child', [1]);
await store.persist();
process.stdout.write(`locked ${process.pid}\n`);
process.stdin.resume();
process.stdin.on('end', () => {
  void store.close().then(() => process.stdout.write('closed\n'));
});
