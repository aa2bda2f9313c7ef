/**
 * Structural checks for STRL trees. Every problem is reported at once, each with the path of the
 * offending node (`MAX[1].SCALE.nCk`) and the bad value next to what is allowed.
 */
import { type FieldIssue, ValidationError } from '../errors.ts';
import { RESOURCE_DIMENSIONS } from '../model/resources.ts';
import { type ChooseExpr, isLeaf, type StrlExpr } from './expr.ts';

const MAX_DEPTH = 32;

function checkLeaf(e: ChooseExpr, path: string, issues: FieldIssue[]): void {
  const add = (message: string) => issues.push({ path, message });
  if (e.partitions.length === 0) add('partitions must list at least one partition');
  if (new Set(e.partitions).size !== e.partitions.length)
    add(`partitions must be distinct, got ${e.partitions.join(',')}`);
  if (!Number.isInteger(e.k) || e.k < 1) add(`k must be a whole number of at least 1, got ${e.k}`);
  if (!Number.isInteger(e.start) || e.start < 0)
    add(`start must be a slot index of at least 0, got ${e.start}`);
  if (!Number.isInteger(e.duration) || e.duration < 1)
    add(`duration must be a whole number of slots of at least 1, got ${e.duration}`);
  if (!Number.isFinite(e.value) || e.value < 0)
    add(`value must be a finite number of at least 0, got ${e.value}`);
  for (const d of RESOURCE_DIMENSIONS) {
    const x = e.demand[d];
    if (!Number.isFinite(x) || x < 0) add(`demand.${d} must be a finite number of at least 0, got ${x}`);
  }
  if (RESOURCE_DIMENSIONS.every((d) => e.demand[d] === 0))
    add('demand must ask for some resource, got all zeros');
}

function walk(e: StrlExpr, path: string, depth: number, issues: FieldIssue[]): void {
  if (depth > MAX_DEPTH) {
    issues.push({ path, message: `expression must be at most ${MAX_DEPTH} levels deep` });
    return;
  }
  if (isLeaf(e)) {
    checkLeaf(e, path, issues);
    return;
  }
  if (e.op === 'BARRIER' || e.op === 'SCALE') {
    const amount = e.op === 'BARRIER' ? e.value : e.factor;
    const name = e.op === 'BARRIER' ? 'value' : 'factor';
    if (!Number.isFinite(amount) || amount < 0 || (e.op === 'SCALE' && amount === 0)) {
      issues.push({
        path,
        message: `${name} must be a finite number ${e.op === 'SCALE' ? 'above' : 'of at least'} 0, got ${amount}`,
      });
    }
    walk(e.child, `${path}.${e.child.op}`, depth + 1, issues);
    return;
  }
  if (e.op !== 'MAX' && e.op !== 'MIN' && e.op !== 'SUM') {
    issues.push({
      path,
      message: `op must be one of nCk, LnCk, MAX, MIN, SUM, BARRIER, SCALE, got ${String((e as { op: unknown }).op)}`,
    });
    return;
  }
  if (e.children.length === 0) issues.push({ path, message: `${e.op} must have at least one child` });
  e.children.forEach((c, i) => {
    walk(c, `${path}[${i}].${c.op}`, depth + 1, issues);
  });
}

/** The problems with `e`, empty when it is well formed. */
export function strlIssues(e: StrlExpr): FieldIssue[] {
  const issues: FieldIssue[] = [];
  walk(e, e.op, 0, issues);
  return issues;
}

/** Throws a ValidationError naming every malformed node. */
export function validateStrl(e: StrlExpr, what = 'strl expression'): void {
  const issues = strlIssues(e);
  if (issues.length > 0) throw new ValidationError(what, issues);
}
