/**
 * The last `limit` bytes written to a stream. A task may print gigabytes; the report needs only the end,
 * so older chunks are dropped as new ones arrive and memory stays bounded by about twice the limit.
 */
export class OutputTail {
  private chunks: Buffer[] = [];
  private bytes = 0;
  private dropped = false;

  constructor(readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1)
      throw new RangeError(`limit must be a positive whole number, got ${limit}`);
  }

  push(chunk: Buffer | string): void {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    if (buf.length === 0) return;
    this.chunks.push(buf);
    this.bytes += buf.length;
    // Drop whole chunks while the rest still covers the limit; trim the last one lazily in text().
    while (this.chunks.length > 1 && this.bytes - (this.chunks[0]?.length ?? 0) >= this.limit) {
      this.bytes -= this.chunks.shift()?.length ?? 0;
      this.dropped = true;
    }
  }

  /** True when output before the tail was dropped. */
  get truncated(): boolean {
    return this.dropped || this.bytes > this.limit;
  }

  /** The tail decoded as UTF-8; a character cut at the start becomes U+FFFD and is then removed. */
  text(): string {
    const all = Buffer.concat(this.chunks, this.bytes);
    const tail = all.length > this.limit ? all.subarray(all.length - this.limit) : all;
    const text = tail.toString('utf8');
    return all.length > this.limit ? text.replace(/^\uFFFD+/, '') : text;
  }
}
