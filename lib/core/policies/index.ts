export * from './alternatives.ts';
export * from './deadline.ts';
export * from './fifo.ts';
export * from './registry.ts';
export * from './slo-service.ts';
export * from './types.ts';
