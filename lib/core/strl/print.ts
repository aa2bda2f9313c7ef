/** Readable one-line and indented forms of STRL trees, for explanations, logs and tests. */
import type { Resources } from '../model/resources.ts';
import { isLeaf, type StrlExpr } from './expr.ts';

function num(x: number): string {
  return Number.isInteger(x) ? String(x) : String(Number(x.toPrecision(6)));
}

function demand(r: Resources): string {
  const parts = [`${num(r.vcpu)}cpu`, `${num(r.memoryMiB)}MiB`];
  if (r.gpus > 0) parts.push(`${r.gpus}gpu`);
  return parts.join('+');
}

/** e.g. `MAX(nCk({g5.xlarge},k=1,s=0,d=2,v=10,1gpu), ...)` on one line. */
export function printStrl(e: StrlExpr): string {
  if (isLeaf(e)) {
    return `${e.op}({${e.partitions.join(',')}},k=${e.k},s=${e.start},d=${e.duration},v=${num(e.value)},${demand(e.demand)})`;
  }
  if (e.op === 'BARRIER') return `BARRIER(${printStrl(e.child)},v=${num(e.value)})`;
  if (e.op === 'SCALE') return `SCALE(${printStrl(e.child)},s=${num(e.factor)})`;
  return `${e.op}(${e.children.map(printStrl).join(', ')})`;
}

/**
 * A canonical one-line form with every number exact (no rounding), so two trees share a key only when
 * they ask for exactly the same thing: safe to key identical jobs on, unlike `printStrl`. Without
 * `values` it keys the shape alone (what is asked for, where and when, not what it is worth).
 */
export function strlKey(e: StrlExpr, values = true): string {
  const v = (x: number) => (values ? `;${x}` : '');
  if (isLeaf(e)) {
    const d = e.demand;
    return `${e.op}(${e.partitions.join(',')};${e.k};${e.start};${e.duration}${v(e.value)};${d.vcpu};${d.memoryMiB};${d.gpus})`;
  }
  if (e.op === 'BARRIER') return `BARRIER(${strlKey(e.child, values)}${v(e.value)})`;
  if (e.op === 'SCALE') return `SCALE(${strlKey(e.child, values)}${v(e.factor)})`;
  return `${e.op}(${e.children.map((c) => strlKey(c, values)).join(',')})`;
}

/** The same, one node per line, indented by depth. */
export function printStrlTree(e: StrlExpr, indent = ''): string {
  if (isLeaf(e)) return `${indent}${printStrl(e)}`;
  if (e.op === 'BARRIER' || e.op === 'SCALE') {
    const arg = e.op === 'BARRIER' ? `v=${num(e.value)}` : `s=${num(e.factor)}`;
    return `${indent}${e.op} ${arg}\n${printStrlTree(e.child, `${indent}  `)}`;
  }
  return [`${indent}${e.op}`, ...e.children.map((c) => printStrlTree(c, `${indent}  `))].join('\n');
}
