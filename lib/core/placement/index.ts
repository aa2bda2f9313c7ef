export { explainJob } from './explain.ts';
export type { MilpModel, MilpSolution, MilpSolveOptions, MilpSolver } from './milp.ts';
export { type PlanExtras, planGreedy, planPlacement } from './plan.ts';
export * from './types.ts';
