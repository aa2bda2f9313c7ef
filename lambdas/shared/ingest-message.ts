import { z } from 'zod';
import { toFieldIssues } from '../../lib/core/model/validate.ts';
import { type Decoded, decodeMessage } from '../../lib/core/protocol/envelope.ts';
import { type Heartbeat, HeartbeatSchema } from '../../lib/core/protocol/heartbeat.ts';
import { MODEL_REPORT_SCHEMAS, type ModelReport } from '../../lib/core/protocol/inference.ts';
import { PIPELINE_REPORT_SCHEMAS, type PipelineReportMessage } from '../../lib/core/protocol/pipeline.ts';
import { type TaskEvent, TaskEventSchema } from '../../lib/core/protocol/tasks.ts';
import { type Ec2Event, Ec2EventSchema } from './aws-events.ts';

/** Everything an agent may put on the reports queue. */
export const AGENT_REPORT_SCHEMAS = {
  TaskEvent: TaskEventSchema,
  Heartbeat: HeartbeatSchema,
  ...MODEL_REPORT_SCHEMAS,
  ...PIPELINE_REPORT_SCHEMAS,
} as const;
export type AgentReport = TaskEvent | Heartbeat | ModelReport | PipelineReportMessage;

/** ingest reads two queues: agent reports (versioned envelopes) and EC2 events from EventBridge. */
export type IngestMessage = { source: 'agent'; report: AgentReport } | { source: 'ec2'; event: Ec2Event };

const EventBridgeShape = z.looseObject({ 'detail-type': z.string() });

/** Tell the two apart by shape: EventBridge events carry `detail-type`, agent reports never do. */
export function decodeIngestMessage(body: string): Decoded<IngestMessage> {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return { ok: false, issues: [{ path: '', message: `body must be JSON, got ${reason}` }] };
  }
  if (EventBridgeShape.safeParse(value).success) {
    const event = Ec2EventSchema.safeParse(value);
    return event.success
      ? { ok: true, value: { source: 'ec2', event: event.data } }
      : { ok: false, issues: toFieldIssues(event.error) };
  }
  const report = decodeMessage(AGENT_REPORT_SCHEMAS, value);
  return report.ok ? { ok: true, value: { source: 'agent', report: report.value as AgentReport } } : report;
}
