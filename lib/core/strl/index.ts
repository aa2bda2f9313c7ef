export * from './expr.ts';
export * from './print.ts';
export * from './validate.ts';
