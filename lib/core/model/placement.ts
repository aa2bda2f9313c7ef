import { z } from 'zod';
import { MarketSchema } from './instance-type.ts';
import { ResourcesSchema } from './resources.ts';

/** Where a task goes: an instance that exists, or the `index`-th new instance of `type` launched this cycle. */
export const PlacementTargetSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('existing'), instanceId: z.string().min(1) }),
  z.object({
    kind: z.literal('new'),
    type: z.string().min(1),
    index: z.number().int().min(0),
    market: MarketSchema,
  }),
]);
export type PlacementTarget = z.infer<typeof PlacementTargetSchema>;

/** One task of a job bound to a target for a window of time. Times are epoch milliseconds. */
export const PlacementSchema = z.object({
  jobId: z.string().min(1),
  taskIndex: z.number().int().min(0),
  attempt: z.number().int().min(0),
  alternative: z.number().int().min(0),
  target: PlacementTargetSchema,
  resources: ResourcesSchema,
  /** Indices of the instance's GPUs given to this task (its CUDA_VISIBLE_DEVICES). */
  gpuIndices: z.array(z.number().int().min(0)).default([]),
  startAt: z.number().int(),
  expectedEndAt: z.number().int(),
});
export type Placement = z.infer<typeof PlacementSchema>;
