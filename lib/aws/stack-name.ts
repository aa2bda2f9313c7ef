/**
 * Stack names and ids, checked before CloudFormation is asked: an empty name would not be refused by it
 * (DescribeStacks without one lists every stack of the account, and the first would be taken).
 */
import { z } from 'zod';
import { parseOrThrow } from '../core/model/validate.ts';

/** What CloudFormation (and the CDK) accept as a stack name. */
const STACK_NAME = /^[A-Za-z][A-Za-z0-9-]{0,127}$/;
/** A stack id, which DescribeStacks takes as well as a name. */
const STACK_ARN =
  /^arn:aws[a-z-]*:cloudformation:[a-z0-9-]+:\d{12}:stack\/[A-Za-z][A-Za-z0-9-]{0,127}\/[A-Za-z0-9-]+$/;

/** Whether `value` is a stack name CloudFormation accepts. */
export function isStackName(value: unknown): value is string {
  return typeof value === 'string' && STACK_NAME.test(value);
}

const STACK_NAME_MESSAGE =
  'stackName must be a stack name (a letter, then letters, digits and "-", up to 128) or a stack ARN';

/** The stack `discoverStack` looks up: a name or an ARN. */
const StackRefSchema = z.object({
  stackName: z
    .string({ error: STACK_NAME_MESSAGE })
    .refine((s) => STACK_NAME.test(s) || STACK_ARN.test(s), { error: STACK_NAME_MESSAGE }),
});

/** A ValidationError on `stackName` unless it is a stack name or ARN. */
export function checkStackName(stackName: string): void {
  parseOrThrow(StackRefSchema, { stackName }, 'stack name');
}
