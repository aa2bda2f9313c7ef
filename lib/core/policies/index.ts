export * from './alternatives.ts';
export * from './deadline.ts';
export * from './fifo.ts';
export * from './registry.ts';
export * from './types.ts';
