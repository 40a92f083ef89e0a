/**
 * Crash-test child: `node --import tsx crash-child.ts <file> <first-version>`. Writes version
 * after version of the learning file, announcing each on stdout, until it is killed.
 */
import { openLearningStore } from '../../src/index.js';
import { patternCountFor, patternFor } from './crash-state.js';

const [file, first] = process.argv.slice(2) as [string, string];
const store = await openLearningStore(file);
for (let v = Number(first); ; v++) {
  const n = patternCountFor(v);
  for (let i = 0; i < n; i++) store.savePattern(patternFor(v, i));
  for (let i = n; store.getPattern(`p-${i}`) !== undefined; i++) store.removePattern(`p-${i}`);
  store.saveEwc({ ...store.getEwc(), tasks_learned: v });
  process.stdout.write(`persisting ${v}\n`);
  await store.persist();
  process.stdout.write(`persisted ${v}\n`);
}
