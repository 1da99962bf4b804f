// Readers of one field of a frame from the partner (messages.ts, files-sync.ts): each returns the
// value or throws an Error naming the message, the field and what came instead.

export function str(o: Record<string, unknown>, field: string, at = String(o.T)): string {
  const v = o[field];
  if (typeof v !== "string") throw new Error(`${at}.${field}: want a string, got ${kind(v)}`);
  return v;
}

export function count(o: Record<string, unknown>, field: string, at = String(o.T)): number {
  const v = o[field];
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) throw new Error(`${at}.${field}: want a whole number >= 0, got ${JSON.stringify(v)?.slice(0, 40) ?? kind(v)}`);
  return v;
}

export function bool(o: Record<string, unknown>, field: string, at = String(o.T)): boolean {
  const v = o[field];
  if (typeof v !== "boolean") throw new Error(`${at}.${field}: want true or false, got ${JSON.stringify(v)?.slice(0, 40) ?? kind(v)}`);
  return v;
}

export function kind(v: unknown): string {
  return v === null ? "null" : Array.isArray(v) ? "an array" : typeof v;
}
