import { request } from 'node:http';

/** One query sent through a router: when it was sent, the answer's status (0: no answer) and its time. */
export interface Sent {
  readonly at: number;
  readonly status: number;
  readonly ms: number;
}

/** A binary query of `input` (dims `dims`, e.g. `1,8`) to pipeline `pipelineId` through the router at `url`. */
export function inferOnce(url: string, pipelineId: string, input: Float32Array, dims: string): Promise<Sent> {
  const body = Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  const at = Date.now();
  return new Promise((resolve) => {
    const req = request(
      `${url}/v1/pipelines/${pipelineId}/infer`,
      { method: 'POST', headers: { 'content-type': 'application/octet-stream', 'x-tensor-dims': dims } },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ at, status: res.statusCode ?? 0, ms: Date.now() - at }));
      },
    );
    req.on('error', () => resolve({ at, status: 0, ms: Date.now() - at }));
    req.end(body);
  });
}

/**
 * Open-loop Poisson arrivals at `rate` per second for `seconds`: queries are sent on schedule, never waited
 * for; each one's answer lands in `out`.
 */
export async function openLoop(
  send: () => Promise<Sent>,
  rate: number,
  seconds: number,
  out: Promise<Sent>[],
): Promise<void> {
  const end = Date.now() + seconds * 1000;
  let next = Date.now();
  while (next < end) {
    next += -Math.log(1 - Math.random()) * (1000 / rate);
    const wait = next - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    out.push(send());
  }
}
