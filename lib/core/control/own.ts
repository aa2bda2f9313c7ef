/**
 * A record's own value under `key`. Stage ids are user-chosen and `constructor` is a valid one: a plain
 * `record[key]` would find Object.prototype's function where the record has no such entry.
 */
export function own<T>(record: Readonly<Record<string, T>> | undefined, key: string): T | undefined {
  return record !== undefined && Object.hasOwn(record, key) ? record[key] : undefined;
}
