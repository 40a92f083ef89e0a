/** Learning-store records the tests share (the contract suites' own). */
export { SNAPSHOT, pattern } from '../../src/testing/learning-persistence-contract.js';
