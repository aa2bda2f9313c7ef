/** Structured log lines (one JSON object per line on stderr), so a log shipper can parse them. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface Logger {
  log(level: LogLevel, msg: string, fields?: Record<string, unknown>): void;
}

export function jsonLogger(write: (line: string) => void = (l) => process.stderr.write(l)): Logger {
  return {
    log(level, msg, fields = {}) {
      write(`${JSON.stringify({ t: new Date().toISOString(), level, msg, ...fields })}\n`);
    },
  };
}

/** Error text for logs without dumping stacks of expected failures. */
export function errorText(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
