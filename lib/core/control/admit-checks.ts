import type { FieldIssue } from '../errors.ts';
import { INSTANCE_CATALOG } from '../model/catalog.ts';
import type { InstanceType } from '../model/instance-type.ts';
import type { JobSpec, Requirement } from '../model/job.ts';
import { fits } from '../model/resources.ts';
import { PIPELINE_JOB_ID_PREFIX } from './pipeline-jobs.ts';

/**
 * Checks admission makes on a user's job beyond its schema: what only the control plane may claim, and
 * whether any instance type could ever run it.
 */

/** Labels under this prefix say which pipeline, role and stage a job serves; only pipeline code sets them. */
export const RESERVED_LABEL_PREFIX = 'tetrafleet/';

/**
 * What a user's job may not claim: reserved labels, the id prefix of pipeline jobs, and a task bound to a
 * pipeline (a router, or a model task naming a pipeline or stage). Such a job could otherwise join a
 * pipeline's replicas or be counted among them. The pipeline code creates its own jobs through the job
 * store, not through admission, so they are not checked here. Nor may a command run under the
 * slo-service policy, which only serves: it would wait forever.
 */
export function reservedIssues(jobId: string, spec: JobSpec): FieldIssue[] {
  const issues: FieldIssue[] = [];
  if (jobId.startsWith(PIPELINE_JOB_ID_PREFIX))
    issues.push({
      path: 'jobId',
      message: `job ids starting with "${PIPELINE_JOB_ID_PREFIX}" are reserved for pipeline jobs, got ${jobId}`,
    });
  for (const key of Object.keys(spec.labels))
    if (key.startsWith(RESERVED_LABEL_PREFIX))
      issues.push({
        path: `spec.labels.${key}`,
        message: `labels under "${RESERVED_LABEL_PREFIX}" are reserved for jobs tetrafleet creates`,
      });
  const task = spec.task;
  // A serving policy holds its capacity until cancelled; a command under it would never be placed.
  if (spec.policy === 'slo-service' && task.kind === 'command')
    issues.push({
      path: 'spec.task.kind',
      message:
        'the slo-service policy serves model tasks until cancelled; run a command under the deadline or fifo policy',
    });
  if (task.kind === 'router')
    issues.push({
      path: 'spec.task.kind',
      message: 'a router runs only for a pipeline; submit the pipeline (SubmitPipeline) instead',
    });
  if (task.kind === 'model') {
    const serving =
      'is set only on the replicas of a submitted pipeline; leave it out to serve a model alone';
    if (task.pipelineId !== undefined)
      issues.push({ path: 'spec.task.pipelineId', message: `pipelineId ${serving}` });
    if (task.stageId !== undefined) issues.push({ path: 'spec.task.stageId', message: `stageId ${serving}` });
  }
  return issues;
}

/**
 * A job no instance type can host would wait PENDING forever. An alternative that no catalog type meets
 * (its instance types, families, GPU model and resources together) is unhostable; the job is refused only
 * when every alternative is, with each one's reason.
 */
export function hostingIssues(
  spec: JobSpec,
  catalog: readonly InstanceType[] = INSTANCE_CATALOG,
): FieldIssue[] {
  const issues = spec.alternatives.map((a, i) =>
    unhostable(a.requirement, `spec.alternatives.${i}.requirement`, catalog),
  );
  return issues.some((issue) => issue === undefined) ? [] : (issues as FieldIssue[]);
}

function unhostable(r: Requirement, path: string, catalog: readonly InstanceType[]): FieldIssue | undefined {
  let pool = catalog;
  const scope: string[] = [];
  if (r.instanceTypes) {
    const named = r.instanceTypes;
    pool = pool.filter((t) => named.includes(t.name));
    if (pool.length === 0)
      return { path: `${path}.instanceTypes`, message: unknownTypesMessage(named, catalog) };
    scope.push(`among ${named.join(', ')}`);
  }
  if (r.families) {
    const families = r.families;
    pool = pool.filter((t) => families.includes(t.family));
    if (pool.length === 0)
      return {
        path: `${path}.families`,
        message: `no instance type ${within(scope)}is of family ${families.join(' or ')}; known families include ${sample(catalog.map((t) => t.family))}`,
      };
    scope.push(`of family ${families.join(' or ')}`);
  }
  if (r.gpuModel) {
    const model = r.gpuModel;
    const before = pool;
    pool = pool.filter((t) => t.gpuModel === model);
    if (pool.length === 0)
      return {
        path: `${path}.gpuModel`,
        message: `no instance type ${within(scope)}has GPU model ${model}; GPU models on offer: ${sample(before.flatMap((t) => (t.gpuModel ? [t.gpuModel] : [])))}`,
      };
    scope.push(`with ${model} GPUs`);
  }
  const need = { vcpu: r.vcpu, memoryMiB: r.memoryMiB, gpus: r.gpus };
  if (pool.some((t) => fits(need, { vcpu: t.vcpu, memoryMiB: t.memoryMiB, gpus: t.gpus }))) return undefined;
  for (const [field, unit] of [
    ['vcpu', 'vCPUs'],
    ['memoryMiB', 'MiB of memory'],
    ['gpus', 'GPUs'],
  ] as const) {
    const most = pool.reduce((a, b) => (b[field] > a[field] ? b : a));
    if (most[field] < need[field])
      return {
        path: `${path}.${field}`,
        message: `no instance type ${within(scope)}has ${need[field]} ${unit}; the most is ${most[field]} (${most.name})`,
      };
  }
  return {
    path,
    message: `no instance type ${within(scope)}has ${need.vcpu} vCPUs, ${need.memoryMiB} MiB and ${need.gpus} GPUs together`,
  };
}

function within(scope: readonly string[]): string {
  return scope.length > 0 ? `${scope.join(' ')} ` : '';
}

function unknownTypesMessage(named: readonly string[], catalog: readonly InstanceType[]): string {
  const hints = named.flatMap((name) => {
    const near = nearestType(name, catalog);
    return near ? [`${name} (did you mean ${near}?)`] : [name];
  });
  return `no instance type in the catalog is named ${hints.join(', ')}`;
}

/** A catalog name the typo is a prefix of, or within two edits of, if there is one. */
function nearestType(name: string, catalog: readonly InstanceType[]): string | undefined {
  const names = catalog.map((t) => t.name);
  return (
    names.find((n) => n.startsWith(name) && n.length - name.length <= 2) ??
    names.find((n) => editDistance(n, name) <= 2)
  );
}

function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++)
      next[j] = Math.min(
        (row[j] as number) + 1,
        (next[j - 1] as number) + 1,
        (row[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    row = next;
  }
  return row[b.length] as number;
}

function sample(values: readonly string[]): string {
  const unique = [...new Set(values)].sort();
  if (unique.length === 0) return 'none';
  return unique.slice(0, 8).join(', ') + (unique.length > 8 ? ', ...' : '');
}
