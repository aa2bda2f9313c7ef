export * from './conv-net.ts';
export * from './files.ts';
export * from './graph.ts';
export * from './mlp.ts';
export * from './random.ts';
