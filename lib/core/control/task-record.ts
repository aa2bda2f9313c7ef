import { z } from 'zod';
import { ResourcesSchema } from '../model/resources.ts';

/**
 * One run of one task (a gang member) on one instance: the item the schedule cycle commits and the
 * ingest path moves along. A retry is a new record with a higher attempt, so an event from an old run
 * can never touch the new one.
 */
export const TASK_STATES = [
  'PLACED',
  'DISPATCHED',
  'RUNNING',
  'SUCCEEDED',
  'FAILED',
  'CANCELLED',
  'LOST',
] as const;
export const TaskStateSchema = z.enum(TASK_STATES);
export type TaskState = z.infer<typeof TaskStateSchema>;

/** States in which a task holds resources on its instance. */
export const ACTIVE_TASK_STATES: ReadonlySet<TaskState> = new Set(['PLACED', 'DISPATCHED', 'RUNNING']);

export const TaskRecordSchema = z.object({
  jobId: z.string().min(1),
  taskIndex: z.number().int().min(0),
  attempt: z.number().int().min(0),
  instanceId: z.string().min(1),
  state: TaskStateSchema,
  alternative: z.number().int().min(0),
  resources: ResourcesSchema,
  gpuIndices: z.array(z.number().int().min(0)).default([]),
  startAt: z.number().int(),
  expectedEndAt: z.number().int(),
  updatedAt: z.number().int(),
  exitCode: z.number().int().optional(),
});
export type TaskRecord = z.infer<typeof TaskRecordSchema>;

/** Sort key of a task record within its job: `task#<index>#attempt#<attempt>`, zero-padded to sort. */
export function taskSortKey(t: { taskIndex: number; attempt: number }): string {
  return `task#${String(t.taskIndex).padStart(3, '0')}#attempt#${String(t.attempt).padStart(3, '0')}`;
}

export function isActiveTask(t: Pick<TaskRecord, 'state'>): boolean {
  return ACTIVE_TASK_STATES.has(t.state);
}
