import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { toFieldIssues, unknownFields } from '../../../lib/core/model/validate.ts';
import {
  CancelTaskSchema,
  DrainSchema,
  HeartbeatSchema,
  InstanceStateChangeSchema,
  LatencyReportSchema,
  PipelineReportSchema,
  RebalanceRecommendationSchema,
  ReplicaRequestSchema,
  RunTaskSchema,
  ServeModelSchema,
  SpotInterruptionSchema,
  SubmitJobSchema,
  SubmitPipelineSchema,
  TaskEventSchema,
} from '../../../lib/core/protocol/index.ts';

const SCHEMAS: Record<string, z.ZodType> = {
  SubmitJob: SubmitJobSchema,
  SubmitPipeline: SubmitPipelineSchema,
  PipelineReport: PipelineReportSchema,
  ReplicaRequest: ReplicaRequestSchema,
  RunTask: RunTaskSchema,
  CancelTask: CancelTaskSchema,
  Drain: DrainSchema,
  ServeModel: ServeModelSchema,
  TaskEvent: TaskEventSchema,
  Heartbeat: HeartbeatSchema,
  LatencyReport: LatencyReportSchema,
  SpotInterruption: SpotInterruptionSchema,
  RebalanceRecommendation: RebalanceRecommendationSchema,
  InstanceStateChange: InstanceStateChangeSchema,
};

const doc = readFileSync(new URL('../../../docs/protocol.md', import.meta.url), 'utf8');
/** Every ```json block that a `<!-- schema: Name -->` marker names. */
const examples = [...doc.matchAll(/<!-- schema: (\w+) -->\s*```json\n([\s\S]*?)```/g)].map((m) => ({
  schema: m[1] as string,
  json: m[2] as string,
}));

describe('docs/protocol.md', () => {
  it('has an example of every message kind', () => {
    expect(examples.map((e) => e.schema).sort()).toEqual(Object.keys(SCHEMAS).sort());
  });

  it.each(examples)(
    'shows a $schema example that the schema accepts, with no field it lacks',
    ({ schema, json }) => {
      const parsed = (SCHEMAS[schema] as z.ZodType).safeParse(JSON.parse(json));
      expect(parsed.success ? [] : toFieldIssues(parsed.error)).toEqual([]);
      expect(unknownFields(SCHEMAS[schema] as z.ZodType, JSON.parse(json))).toEqual([]);
    },
  );
});
