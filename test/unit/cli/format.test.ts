import { describe, expect, it } from 'vitest';
import {
  ago,
  bar,
  clockTime,
  formatBytes,
  formatDuration,
  formatTable,
  paint,
  truncate,
  visibleLength,
} from '../../../lib/cli/format.ts';

describe('formatTable', () => {
  const rows = [
    { id: 'job-1', name: 'train', n: 3 },
    { id: 'job-22', name: 'x', n: 120 },
  ];
  const columns = [
    { header: 'ID', value: (r: (typeof rows)[number]) => r.id },
    { header: 'NAME', value: (r: (typeof rows)[number]) => r.name },
    { header: 'N', value: (r: (typeof rows)[number]) => String(r.n), right: true },
  ];

  it('pads each column to its widest cell and right-aligns numbers', () => {
    expect(formatTable(columns, rows)).toBe(
      ['ID      NAME     N', 'job-1   train    3', 'job-22  x      120'].join('\n'),
    );
  });

  it('prints only the header when there are no rows', () => {
    expect(formatTable(columns, [])).toBe('ID  NAME  N');
  });

  it('lines up cells that carry colour codes by their visible width', () => {
    const coloured = [{ id: paint('job-1', 'green', true), name: 'a', n: 1 }];
    const [header, row] = formatTable(columns, coloured).split('\n');
    expect(visibleLength(row as string)).toBe(visibleLength(header as string));
  });
});

describe('text helpers', () => {
  it('fills a bar to the fraction and clamps out-of-range values', () => {
    expect(bar(0.5, 10)).toBe('█████░░░░░');
    expect(bar(2, 4)).toBe('████');
    expect(bar(Number.NaN, 4)).toBe('░░░░');
  });

  it('cuts a coloured line to the width and closes the colour', () => {
    const line = paint('abcdefghij', 'red', true);
    const cut = truncate(line, 5);
    expect(visibleLength(cut)).toBe(5);
    expect(cut.endsWith('\u001b[0m')).toBe(true);
    expect(truncate('short', 10)).toBe('short');
  });

  it('formats durations, ages and times of day', () => {
    expect(formatDuration(250)).toBe('250 ms');
    expect(formatDuration(12_340)).toBe('12.3 s');
    expect(formatDuration(245_000)).toBe('4m 05s');
    expect(formatDuration(7_380_000)).toBe('2h 03m');
    expect(ago(1_000, 61_000)).toBe('1m ago');
    expect(clockTime(Date.UTC(2026, 0, 2, 3, 4, 5))).toBe('03:04:05');
  });

  it('formats sizes in binary units', () => {
    expect(formatBytes(812)).toBe('812 B');
    expect(formatBytes(1024)).toBe('1.0 KiB');
    expect(formatBytes(42_291)).toBe('41.3 KiB');
    expect(formatBytes(2.1 * 1024 * 1024)).toBe('2.1 MiB');
    expect(formatBytes(1.5 * 1024 ** 3)).toBe('1.5 GiB');
  });
});
