import { describe, expect, it } from 'vitest';
import { OutputTail } from '../../../agent/output-tail.ts';

describe('output tail', () => {
  it('keeps everything while under the limit', () => {
    const tail = new OutputTail(16);
    tail.push('abc');
    tail.push(Buffer.from('def'));
    expect(tail.text()).toBe('abcdef');
    expect(tail.truncated).toBe(false);
  });

  it('keeps only the last bytes of a long stream and says it dropped some', () => {
    const tail = new OutputTail(10);
    for (let i = 0; i < 1000; i++) tail.push(`line ${i}\n`);
    expect(tail.text()).toBe('\nline 999\n');
    expect(tail.truncated).toBe(true);
  });

  it('drops a multi-byte character cut at the start instead of showing garbage', () => {
    const tail = new OutputTail(4);
    tail.push('ééé'); // 6 bytes; the last 4 start in the middle of the first kept é
    expect(tail.text()).toBe('éé');
  });

  it('fails when the limit is not a positive whole number', () => {
    expect(() => new OutputTail(0)).toThrow('limit must be a positive whole number, got 0');
  });
});
