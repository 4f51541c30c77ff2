// Helpers for users' tests: an in-memory clique, a manual clock, bounded waiting
// and a seeded random source. Every export is named.
export { createMemoryClique } from './clique';
export type { MemoryClique, MemoryCliqueOptions } from './clique';
export { ManualClock } from './manual-clock';
export { seededRandom } from './seeded-random';
export type { SeededRandom } from './seeded-random';
export { waitFor } from './wait-for';
export type { WaitForOptions } from './wait-for';
