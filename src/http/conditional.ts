// Conditional requests (RFC 9110 section 13): If-None-Match before If-Modified-Since, weak
// comparison for If-None-Match, strong comparison and exact dates for If-Range.

export interface Validators {
  etag: string | undefined;
  mtime: Date | undefined;
}

const opaque = (tag: string) => tag.trim().replace(/^W\//, "");

/** Should a GET/HEAD be answered 304 Not Modified? */
export function isNotModified(headers: Headers, v: Validators): boolean {
  const inm = headers.get("if-none-match");
  if (inm !== null) {
    if (v.etag === undefined) return false;
    const mine = opaque(v.etag);
    return inm.split(",").some((t) => t.trim() === "*" || opaque(t) === mine);
  }
  const ims = headers.get("if-modified-since");
  if (ims !== null && v.mtime !== undefined) {
    const since = Date.parse(ims);
    if (Number.isNaN(since)) return false;
    return Math.floor(v.mtime.getTime() / 1000) <= Math.floor(since / 1000);
  }
  return false;
}

/** Does If-Range (absent, an ETag or an HTTP date) allow serving the requested range? */
export function ifRangeAllows(headers: Headers, v: Validators): boolean {
  const ir = headers.get("if-range");
  if (ir === null) return true;
  const t = ir.trim();
  if (t.startsWith('"') || t.startsWith("W/")) {
    return v.etag !== undefined && !t.startsWith("W/") && !v.etag.startsWith("W/") && t === v.etag;
  }
  const date = Date.parse(t);
  if (Number.isNaN(date) || v.mtime === undefined) return false;
  return Math.floor(v.mtime.getTime() / 1000) === Math.floor(date / 1000);
}

/** RFC 9110 HTTP-date (IMF-fixdate). */
export function httpDate(d: Date): string {
  return d.toUTCString();
}
