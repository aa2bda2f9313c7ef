export * from './ec2-events.ts';
export * from './envelope.ts';
export * from './heartbeat.ts';
export * from './inference.ts';
export * from './pipeline.ts';
export * from './submission.ts';
export * from './tasks.ts';
