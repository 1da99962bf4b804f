// The bearer token of GET /metrics (--metrics-token-file): a Prometheus server has no user and no
// role, only a token in its scrape config (`authorization: {credentials_file: ...}`). The file is
// read once at start; the token is compared in constant time, so the time an answer takes says
// nothing about how much of a guess was right.

import { createHash, timingSafeEqual } from "node:crypto";
import { readFileSync, statSync } from "node:fs";

/** Shorter tokens are refused: a scrape token sits beside the API's tokens on the same port. */
export const MIN_TOKEN_LENGTH = 16;
const MAX_TOKEN_LENGTH = 4096;

export class MetricsToken {
  readonly #digest: Buffer;

  constructor(token: string) {
    this.#digest = digest(token);
  }

  /** Whether `candidate` is the token (hashed first: equal lengths, no early exit). */
  matches(candidate: string): boolean {
    return timingSafeEqual(this.#digest, digest(candidate));
  }
}

function digest(s: string): Buffer {
  return createHash("sha256").update(s, "utf8").digest();
}

/**
 * The token in `path`: its content without the final newline. Throws an Error naming the file and
 * what is wrong (unreadable, empty, too short, whitespace or control characters inside); `warn`
 * hears of a file that other users may read.
 */
export function readMetricsToken(path: string, warn: (msg: string) => void = () => {}): MetricsToken {
  let text: string;
  try {
    const st = statSync(path);
    if (!st.isFile()) throw new Error("not a regular file");
    if (st.size > MAX_TOKEN_LENGTH + 2) throw new Error(`${st.size} bytes is longer than a token (at most ${MAX_TOKEN_LENGTH})`);
    if ((st.mode & 0o077) !== 0) warn(`metrics token file "${path}" may be read by other users (mode ${(st.mode & 0o777).toString(8)}); chmod 600 it`);
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new Error(`cannot read the metrics token file "${path}": ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const token = text.replace(/\r?\n$/, "");
  if (token === "") throw new Error(`the metrics token file "${path}" is empty; put a random token in it (e.g. openssl rand -hex 32 > ${path})`);
  if (/[\s\x00-\x1f\x7f]/.test(token)) throw new Error(`the metrics token file "${path}" holds whitespace or control characters; it must hold one token on one line`);
  if (token.length < MIN_TOKEN_LENGTH) throw new Error(`the metrics token in "${path}" is ${token.length} characters; use at least ${MIN_TOKEN_LENGTH} (e.g. openssl rand -hex 32)`);
  return new MetricsToken(token);
}
