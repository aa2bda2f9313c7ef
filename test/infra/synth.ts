import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { TetrafleetStack, type TetrafleetStackProps } from '../../lib/infra/tetrafleet-stack.ts';

export interface Synthesized {
  readonly app: App;
  readonly stack: TetrafleetStack;
  readonly template: Template;
  readonly outdir: string;
}

/**
 * Synthesize one stack into a fresh temporary cloud assembly. `bundle: false` skips esbuild (CDK's
 * `aws:cdk:bundling-stacks` context), for tests that only read the template.
 */
export function synthStack(
  props: TetrafleetStackProps = {},
  options: { bundle?: boolean } = {},
): Synthesized {
  const outdir = mkdtempSync(join(tmpdir(), 'tetrafleet-synth-'));
  const context = options.bundle === false ? { 'aws:cdk:bundling-stacks': [] } : {};
  const app = new App({ outdir, context });
  const stack = new TetrafleetStack(app, 'TetrafleetStack', { stackName: 'Tetrafleet', ...props });
  const template = Template.fromStack(stack);
  return { app, stack, template, outdir };
}

/** Resources of one type, by logical id. */
export function resourcesOf(
  template: Template,
  type: string,
): Record<string, { Properties?: Record<string, unknown> }> {
  return template.findResources(type) as Record<string, { Properties?: Record<string, unknown> }>;
}
