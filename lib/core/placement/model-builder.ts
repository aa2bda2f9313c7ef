/** Accumulates variables, rows and objective terms, with unique stable names, into a MilpModel. */
import type { MilpModel, MilpRow, MilpVar, VarKind } from './milp.ts';

/** A linear form: sum of coef * var, plus a constant. */
export interface Linear {
  readonly terms: Map<number, number>;
  constant: number;
}

export function linear(constant = 0): Linear {
  return { terms: new Map(), constant };
}

export function addTerm(f: Linear, index: number, coef: number): Linear {
  if (coef !== 0) f.terms.set(index, (f.terms.get(index) ?? 0) + coef);
  return f;
}

export function addScaled(into: Linear, f: Linear, k: number): Linear {
  for (const [i, c] of f.terms) addTerm(into, i, c * k);
  into.constant += f.constant * k;
  return into;
}

function addPairs(f: Linear, pairs: readonly [number, number][]): Linear {
  for (const [i, c] of pairs) addTerm(f, i, c);
  return f;
}

interface VarDraft {
  name: string;
  kind: VarKind;
  lb: number;
  ub: number;
  obj: number;
}

export class ModelBuilder {
  private readonly vars: VarDraft[] = [];
  private readonly rows: MilpRow[] = [];
  private readonly varNames = new Map<string, number>();
  private readonly rowNames = new Set<string>();

  addVar(name: string, kind: VarKind, lb: number, ub: number, obj = 0): number {
    const unique = this.uniqueName(name, (n) => this.varNames.has(n));
    const kindOut: VarKind = kind === 'integer' && lb === 0 && ub === 1 ? 'binary' : kind;
    this.vars.push({ name: unique, kind: kindOut, lb, ub, obj });
    this.varNames.set(unique, this.vars.length - 1);
    return this.vars.length - 1;
  }

  addObjective(index: number, coef: number): void {
    const v = this.vars[index];
    if (v) v.obj += coef;
  }

  /** Adds `lb <= f <= ub`, moving f's constant to the bounds. Rows without terms are dropped. */
  addRow(name: string, f: Linear, lb: number, ub: number): void {
    const terms = [...f.terms].filter(([, c]) => c !== 0);
    if (terms.length === 0) return;
    const unique = this.uniqueName(name, (n) => this.rowNames.has(n));
    this.rowNames.add(unique);
    this.rows.push({ name: unique, terms, lb: lb - f.constant, ub: ub - f.constant });
  }

  /** Adds `lb <= Σ coef * var <= ub` from (variable, coef) pairs; a repeated variable's coefs are summed. */
  addRowTerms(name: string, pairs: [number, number][], lb: number, ub: number): void {
    // Repeats are rare (leaves under a MIN share one indicator), so the Map is built only for them.
    const terms =
      new Set(pairs.map(([i]) => i)).size === pairs.length
        ? pairs
        : [...addPairs(linear(), pairs).terms].filter(([, c]) => c !== 0);
    if (terms.length === 0) return;
    const unique = this.uniqueName(name, (n) => this.rowNames.has(n));
    this.rowNames.add(unique);
    this.rows.push({ name: unique, terms, lb, ub });
  }

  varCount(): number {
    return this.vars.length;
  }

  upperBound(index: number): number {
    return this.vars[index]?.ub ?? 0;
  }

  varName(index: number): string {
    return this.vars[index]?.name ?? `?${index}`;
  }

  indexOf(name: string): number | undefined {
    return this.varNames.get(name);
  }

  build(): MilpModel {
    const vars: MilpVar[] = this.vars.map((v) => ({ ...v }));
    return { sense: 'maximize', vars, rows: [...this.rows] };
  }

  private uniqueName(name: string, taken: (n: string) => boolean): string {
    if (!taken(name)) return name;
    let i = 2;
    while (taken(`${name}#${i}`)) i++;
    return `${name}#${i}`;
  }
}
