/**
 * A MilpSolver for unit tests: records every call, answers from a script (or a function), and can be
 * told to fail next. With nothing scripted it answers `no-solution`, like a solver out of time.
 */
import type { MilpModel, MilpSolution, MilpSolveOptions, MilpSolver } from '../../lib/core/placement/milp.ts';

export type FakeAnswer = MilpSolution | ((model: MilpModel, options: MilpSolveOptions) => MilpSolution);

export class FakeMilpSolver implements MilpSolver {
  readonly calls: { model: MilpModel; options: MilpSolveOptions }[] = [];
  private readonly script: FakeAnswer[] = [];
  private failure: Error | undefined;

  constructor(private readonly fallback?: FakeAnswer) {}

  /** Answers the next solve with this (in order); then the fallback. */
  answerNext(...answers: FakeAnswer[]): this {
    this.script.push(...answers);
    return this;
  }

  /** The next solve throws, as when the solver cannot run at all. */
  failNext(error: Error = new Error('solver failed to load')): this {
    this.failure = error;
    return this;
  }

  async solve(model: MilpModel, options: MilpSolveOptions): Promise<MilpSolution> {
    this.calls.push({ model, options });
    if (this.failure) {
      const e = this.failure;
      this.failure = undefined;
      throw e;
    }
    const answer = this.script.shift() ?? this.fallback;
    if (!answer) return { status: 'no-solution', values: new Float64Array(), objective: 0, solveMs: 1 };
    return typeof answer === 'function' ? answer(model, options) : answer;
  }
}

/** A solution that sets named variables (others 0), with the objective the model gives them. */
export function solutionByName(
  model: MilpModel,
  byName: Record<string, number>,
  status: MilpSolution['status'] = 'optimal',
): MilpSolution {
  const values = new Float64Array(model.vars.length);
  model.vars.forEach((v, i) => {
    values[i] = byName[v.name] ?? 0;
  });
  const objective = model.vars.reduce((s, v, i) => s + v.obj * values[i]!, model.objOffset ?? 0);
  return { status, values, objective, solveMs: 1 };
}
