import { ValidationError } from '../errors.ts';
import { findInstanceType, INSTANCE_CATALOG } from '../model/catalog.ts';
import type { PipelineConfig } from './simulator.ts';

/** Dollars per hour of a pipeline configuration. */
export type CostOf = (config: PipelineConfig) => number;

/**
 * The default cost: every replica occupies a whole instance of its type, billed at the on-demand price.
 * This over-charges small models (a c7i.xlarge could hold several replicas of a light stage), but it is
 * the price the fleet actually pays until the placement engine packs replicas; it never under-charges.
 */
export const onDemandCostPerHour: CostOf = (config) => {
  let total = 0;
  for (const [stage, c] of Object.entries(config)) {
    const type = findInstanceType(c.instanceType);
    if (!type)
      throw new ValidationError('pipeline config', [
        {
          path: `${stage}.instanceType`,
          message: `unknown instance type ${c.instanceType}; known types include ${INSTANCE_CATALOG.slice(
            0,
            5,
          )
            .map((t) => t.name)
            .join(', ')}, ...`,
        },
      ]);
    total += c.replicas * type.onDemandPerHour;
  }
  return total;
};
