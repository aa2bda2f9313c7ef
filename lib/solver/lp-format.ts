/**
 * Writes a MilpModel as CPLEX LP text in the dialect the HiGHS LP reader accepts.
 *
 * Catches found by feeding the reader (HiGHS 1.15, WASM build):
 * - A double-sided row `c: 1 <= x + y <= 3` makes the reader throw, and in the WASM build a C++ throw
 *   aborts the call. Ranged rows are therefore written as two rows, `name_lo` (>=) and `name_hi` (<=).
 * - Names may not start with a digit, a period or `e` followed by a digit, and may not contain
 *   spaces or `+-*^<>=:[]`. Every name is sanitised and prefixed (`v_` for columns, `c_` for rows),
 *   which also keeps model names away from the reader's keywords (`free`, `inf`, `st`, `end`, ...).
 * - Lines are wrapped, since some LP readers limit line length.
 * The reader creates columns in order of first appearance, so callers map values back by name
 * (`columnNames[i]` is the LP name of variable i).
 */
import type { MilpModel } from '../core/placement/milp.ts';

export interface LpText {
  readonly text: string;
  /** The LP name written for each variable, by variable index. */
  readonly columnNames: readonly string[];
}

const TERMS_PER_LINE = 8;

/** Replace characters the LP reader rejects and add a prefix that makes the name start safely. */
export function sanitizeLpName(name: string, prefix: 'v_' | 'c_'): string {
  const cleaned = name.replace(/[^A-Za-z0-9_.!"#$%&()/,;?@'{}|~]/g, '_');
  return `${prefix}${cleaned.length > 0 ? cleaned : '_'}`.slice(0, 250);
}

/** Sanitise every name and make them unique by appending the index where two collide. */
function uniqueNames(names: readonly string[], prefix: 'v_' | 'c_'): string[] {
  const seen = new Set<string>();
  return names.map((raw, i) => {
    let name = sanitizeLpName(raw, prefix);
    if (seen.has(name)) name = `${name}__${i}`;
    while (seen.has(name)) name = `${name}_`;
    seen.add(name);
    return name;
  });
}

function formatNumber(x: number): string {
  if (x === Number.POSITIVE_INFINITY) return 'inf';
  if (x === Number.NEGATIVE_INFINITY) return '-inf';
  return String(x);
}

/** `3 v_a - 2 v_b + v_c`, wrapped over several lines. */
function linearExpression(terms: ReadonlyArray<readonly [number, number]>, names: readonly string[]): string {
  const parts: string[] = [];
  terms.forEach(([index, coef], k) => {
    const sign = coef < 0 ? '-' : '+';
    const magnitude = formatNumber(Math.abs(coef));
    const term = `${magnitude} ${names[index]}`;
    const lead = k === 0 ? (coef < 0 ? '- ' : '') : ` ${sign} `;
    parts.push(k > 0 && k % TERMS_PER_LINE === 0 ? `\n ${lead}${term}` : `${lead}${term}`);
  });
  return parts.join('');
}

function objectiveSection(model: MilpModel, names: readonly string[]): string[] {
  const terms: [number, number][] = [];
  model.vars.forEach((v, i) => {
    if (v.obj !== 0) terms.push([i, v.obj]);
  });
  const offset = model.objOffset ?? 0;
  let expr = terms.length > 0 ? linearExpression(terms, names) : '';
  if (offset !== 0 || expr === '') {
    const constant = formatNumber(Math.abs(offset));
    expr =
      expr === '' ? `${offset < 0 ? '-' : ''}${constant}` : `${expr} ${offset < 0 ? '-' : '+'} ${constant}`;
  }
  return ['Maximize', ` obj: ${expr}`];
}

function constraintLines(model: MilpModel, rowNames: readonly string[], names: readonly string[]): string[] {
  const lines: string[] = [];
  model.rows.forEach((row, r) => {
    const hasLb = row.lb > Number.NEGATIVE_INFINITY;
    const hasUb = row.ub < Number.POSITIVE_INFINITY;
    if (!hasLb && !hasUb) return;
    // A row with no terms still has to be written when 0 lies outside its bounds (it makes the model
    // infeasible); a zero coefficient on the first column keeps the reader happy.
    if (row.terms.length === 0 && (row.lb <= 0 || !hasLb) && (row.ub >= 0 || !hasUb)) return;
    const terms = row.terms.length > 0 ? row.terms : ([[0, 0]] as const);
    const expr = linearExpression(terms, names);
    const name = rowNames[r];
    if (hasLb && hasUb && row.lb === row.ub) lines.push(` ${name}: ${expr} = ${formatNumber(row.lb)}`);
    else if (hasLb && hasUb) {
      lines.push(` ${name}_lo: ${expr} >= ${formatNumber(row.lb)}`);
      lines.push(` ${name}_hi: ${expr} <= ${formatNumber(row.ub)}`);
    } else if (hasLb) lines.push(` ${name}: ${expr} >= ${formatNumber(row.lb)}`);
    else lines.push(` ${name}: ${expr} <= ${formatNumber(row.ub)}`);
  });
  return lines;
}

// A relaxed binary keeps its [0, 1] box here; only the General section is left out.
function boundLines(model: MilpModel, names: readonly string[]): string[] {
  return model.vars.map((v, i) => {
    const name = names[i];
    let lb = v.lb;
    let ub = v.ub;
    if (v.kind === 'binary') {
      lb = Math.max(lb, 0);
      ub = Math.min(ub, 1);
    }
    if (lb === Number.NEGATIVE_INFINITY && ub === Number.POSITIVE_INFINITY) return ` ${name} free`;
    if (lb === ub) return ` ${name} = ${formatNumber(lb)}`;
    return ` ${formatNumber(lb)} <= ${name} <= ${formatNumber(ub)}`;
  });
}

/**
 * Writes `model` as LP text. With `relaxIntegrality` the General and Binary sections are left out,
 * so the text is the LP relaxation.
 */
export function toLpText(model: MilpModel, options: { relaxIntegrality?: boolean } = {}): LpText {
  const relax = options.relaxIntegrality ?? false;
  const columnNames = uniqueNames(
    model.vars.map((v) => v.name),
    'v_',
  );
  const rowNames = uniqueNames(
    model.rows.map((r) => r.name),
    'c_',
  );
  const lines = [
    ...objectiveSection(model, columnNames),
    'Subject To',
    ...constraintLines(model, rowNames, columnNames),
    'Bounds',
    ...boundLines(model, columnNames),
  ];
  if (!relax) {
    // Binaries go to General with their [0, 1] box from Bounds, so one section covers both kinds.
    const integers = model.vars.flatMap((v, i) => (v.kind === 'continuous' ? [] : [columnNames[i]]));
    if (integers.length > 0)
      lines.push('General', ...chunk(integers, TERMS_PER_LINE).map((c) => ` ${c.join(' ')}`));
  }
  lines.push('End', '');
  return { text: lines.join('\n'), columnNames };
}

function chunk<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
