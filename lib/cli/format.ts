/**
 * Plain-text building blocks for terminal output: tables, bars, colours and durations. Pure; the commands
 * and the live view share them so that every view lines up the same way.
 */

const ESC = String.fromCharCode(27);
/** An SGR colour sequence; built from ESC because a literal control character trips linters. */
const ANSI = new RegExp(`${ESC}\\[[0-9;]*m`, 'g');
const ANSI_AT_START = new RegExp(`^${ESC}\\[[0-9;]*m`);

export type Colour = 'red' | 'green' | 'yellow' | 'blue' | 'magenta' | 'cyan' | 'grey' | 'bold';

const CODES: Readonly<Record<Colour, string>> = {
  red: '31',
  green: '32',
  yellow: '33',
  blue: '34',
  magenta: '35',
  cyan: '36',
  grey: '90',
  bold: '1',
};

/** Wraps `text` in an ANSI colour when `enabled`. */
export function paint(text: string, colour: Colour, enabled: boolean): string {
  return enabled ? `${ESC}[${CODES[colour]}m${text}${ESC}[0m` : text;
}

/** Visible width: ANSI codes take no columns. */
export function visibleLength(text: string): number {
  return text.replace(ANSI, '').length;
}

/** Cuts a line to `width` visible columns, keeping colour codes intact and closing any left open. */
export function truncate(line: string, width: number): string {
  if (visibleLength(line) <= width) return line;
  let out = '';
  let shown = 0;
  for (let i = 0; i < line.length && shown < width; ) {
    const m = ANSI_AT_START.exec(line.slice(i));
    if (m) {
      out += m[0];
      i += m[0].length;
      continue;
    }
    out += shown === width - 1 ? '…' : line[i];
    shown += 1;
    i += 1;
  }
  return out.includes(ESC) ? `${out}${ESC}[0m` : out;
}

export function padEnd(text: string, width: number): string {
  return text + ' '.repeat(Math.max(0, width - visibleLength(text)));
}

export function padStart(text: string, width: number): string {
  return ' '.repeat(Math.max(0, width - visibleLength(text))) + text;
}

/** A horizontal bar `width` cells wide, filled to `fraction` (clamped to 0..1). */
export function bar(fraction: number, width: number): string {
  const f = Number.isFinite(fraction) ? Math.min(1, Math.max(0, fraction)) : 0;
  const filled = Math.round(f * width);
  return '█'.repeat(filled) + '░'.repeat(Math.max(0, width - filled));
}

export interface Column<Row> {
  readonly header: string;
  readonly value: (row: Row) => string;
  /** Right-align (numbers). @default false */
  readonly right?: boolean;
}

/**
 * A table with a header row and columns as wide as their widest cell, two spaces apart. Trailing spaces
 * are trimmed so that output diffs cleanly.
 */
export function formatTable<Row>(columns: readonly Column<Row>[], rows: readonly Row[]): string {
  const cells = rows.map((row) => columns.map((c) => c.value(row)));
  const widths = columns.map((c, i) =>
    Math.max(visibleLength(c.header), ...cells.map((r) => visibleLength(r[i] ?? ''))),
  );
  const line = (values: readonly string[]) =>
    values
      .map((v, i) => {
        const w = widths[i] ?? 0;
        return columns[i]?.right ? padStart(v, w) : padEnd(v, w);
      })
      .join('  ')
      .trimEnd();
  return [line(columns.map((c) => c.header)), ...cells.map((r) => line(r))].join('\n');
}

/** "1 edge", "2 edges". */
export function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

/** `95 ms`, `12.3 s`, `4m 05s`, `2h 03m`. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return '-';
  const abs = Math.abs(ms);
  if (abs < 1000) return `${Math.round(ms)} ms`;
  if (abs < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(abs / 1000);
  const sign = ms < 0 ? '-' : '';
  if (s < 3600) return `${sign}${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  return `${sign}${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** How long before `now` something happened: `3s ago`, `2m ago`. */
export function ago(at: number, now: number): string {
  const s = Math.max(0, Math.round((now - at) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  return `${Math.floor(s / 3600)}h ago`;
}

/** Epoch ms as an ISO-like UTC time of day, `14:03:27`, so output does not depend on the local zone. */
export function clockTime(at: number): string {
  return new Date(at).toISOString().slice(11, 19);
}

export function formatDollars(amount: number): string {
  return `$${amount.toFixed(amount >= 100 ? 0 : amount >= 1 ? 2 : 3)}`;
}

export function formatPercent(fraction: number | undefined): string {
  return fraction === undefined || !Number.isFinite(fraction) ? '-' : `${Math.round(fraction * 100)}%`;
}

/** `812 B`, `41.3 KiB`, `2.1 MiB`, `1.4 GiB`. */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}
