export * from './cost.ts';
export * from './envelope.ts';
export * from './planner.ts';
export * from './profiles.ts';
export * from './simulator.ts';
export * from './topology.ts';
export * from './traces.ts';
export * from './tuner.ts';
