import { z } from 'zod';

export const ArchitectureSchema = z.enum(['x86_64', 'arm64']);

/** One EC2 instance type as the scheduler sees it: hardware, price and how long it takes to boot. */
export const InstanceTypeSchema = z
  .object({
    name: z
      .string()
      .regex(/^[a-z][a-z0-9-]*\.[a-z0-9]+$/, { error: 'name must look like an EC2 type, e.g. g5.xlarge' }),
    family: z.string().min(1),
    arch: ArchitectureSchema.default('x86_64'),
    vcpu: z.number().int().positive({ error: 'vcpu must be a positive whole number' }),
    memoryMiB: z.number().int().positive({ error: 'memoryMiB must be a positive whole number' }),
    gpus: z.number().int().min(0),
    /** NVIDIA GPU model, e.g. `A10G`, `L4`, `T4`, `V100`, `A100`, `H100`; absent on CPU types. */
    gpuModel: z.string().min(1).optional(),
    /** Memory of one GPU. */
    gpuMemoryMiB: z.number().int().positive().optional(),
    /** AWS Inferentia chips (inf2); these are not CUDA GPUs. */
    inferentiaChips: z.number().int().min(0).default(0),
    onDemandPerHour: z.number().positive({ error: 'onDemandPerHour must be a positive $/h price' }),
    spotPerHour: z.number().positive({ error: 'spotPerHour must be a positive $/h price' }),
    /** Seconds from launch request until the agent can take work. */
    bootSeconds: z.number().int().positive(),
  })
  .superRefine((t, ctx) => {
    if (t.gpus > 0 && !t.gpuModel)
      ctx.addIssue({ code: 'custom', path: ['gpuModel'], message: 'gpuModel is required when gpus > 0' });
    if (t.gpus === 0 && t.gpuModel)
      ctx.addIssue({
        code: 'custom',
        path: ['gpuModel'],
        message: `gpuModel ${t.gpuModel} given but gpus is 0`,
      });
    if (t.spotPerHour > t.onDemandPerHour)
      ctx.addIssue({
        code: 'custom',
        path: ['spotPerHour'],
        message: `spotPerHour must not exceed onDemandPerHour (${t.onDemandPerHour}), got ${t.spotPerHour}`,
      });
  });
export type InstanceType = z.infer<typeof InstanceTypeSchema>;

export type Market = 'on-demand' | 'spot';
export const MarketSchema = z.enum(['on-demand', 'spot']);

export function pricePerHour(type: InstanceType, market: Market): number {
  return market === 'spot' ? type.spotPerHour : type.onDemandPerHour;
}
