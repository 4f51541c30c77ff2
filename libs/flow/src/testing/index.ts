// Helpers for users' tests (`nestjs-flow/testing`): several instances of a Nest
// app on one in-memory bus, an in-memory clique of brokers, a manual clock,
// bounded waiting and a seeded random source. Every export is named.
export { startFlowTestingApps } from './flow-testing';
export type { FlowTestingApp, FlowTestingClique, FlowTestingOptions } from './flow-testing';
export { createMemoryClique } from './clique';
export type { MemoryClique, MemoryCliqueOptions } from './clique';
export { ManualClock } from './manual-clock';
export { seededRandom } from './seeded-random';
export type { SeededRandom } from './seeded-random';
export { waitFor } from './wait-for';
export type { WaitForOptions } from './wait-for';
