// A file fetched over HTTP(S) to disk, resumable: the bytes go to a partial file beside the
// target, named after the URL (so a later attempt finds it), and an interrupted fetch goes on
// from where it stopped with a Range request, guarded by If-Range (the server's ETag or
// Last-Modified of the first attempt) so that a file that changed meanwhile starts over instead of
// mixing two versions. Only a whole file, checked against the SHA-256 asked for (when given), is
// renamed over the target; a mismatch removes the partial file. Stalls (no byte for `idleMs`)
// end the attempt; the partial file stays for the next one.

import { createHash } from "node:crypto";
import { mkdir, open, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { syncDir, writeAll } from "./atomic-write.ts";
import { tempName } from "./paths.ts";

export interface FetchProgress {
  bytes: number;
  /** From Content-Length (or Content-Range); 0 when the server does not say. */
  total: number;
  /** Bytes the partial file held when this attempt started. */
  resumedFrom: number;
}

export interface FetchOptions {
  /** Lower-case hex; a whole file of another digest is refused and removed. */
  sha256?: string;
  onProgress?: (p: FetchProgress) => void;
  progressEvery?: number;
  idleMs?: number;
  signal?: AbortSignal;
  fetch?: typeof fetch;
  /** Largest file accepted (default 8 GiB, the upload limit): a server that sends more is cut off. */
  maxBytes?: number;
}

export class FetchError extends Error {}

/** The partial file of `url` for `target`, beside it (a fetch's temporary name, paths.ts: never served). */
export function partialPath(target: string, url: string): string {
  return join(dirname(target), tempName("fetch", createHash("sha256").update(`${url}\0${target}`).digest("hex").slice(0, 16)));
}

/** Fetch `url` to `target`; returns its size and SHA-256. */
export async function fetchToFile(url: string, target: string, opts: FetchOptions = {}): Promise<{ size: number; sha256: string; resumedFrom: number }> {
  const part = partialPath(target, url);
  const meta = `${part}.validator`;
  await mkdir(dirname(target), { recursive: true, mode: 0o755 });
  let have = (await stat(part).catch(() => undefined))?.size ?? 0;
  const validator = have > 0 ? (await readFile(meta, "utf8").catch(() => "")).trim() : "";
  if (have > 0 && validator === "") have = 0; // nothing to guard a resume with: start over
  const headers: Record<string, string> = {};
  if (have > 0) {
    headers.Range = `bytes=${have}-`;
    headers["If-Range"] = validator;
  }
  const ac = new AbortController();
  const onAbort = () => ac.abort(opts.signal?.reason);
  opts.signal?.addEventListener("abort", onAbort, { once: true });
  const idleMs = opts.idleMs ?? 30_000;
  let timer = setTimeout(() => ac.abort(new FetchError(`${url}: no data for ${idleMs / 1000} s`)), idleMs);
  const touch = () => {
    clearTimeout(timer);
    timer = setTimeout(() => ac.abort(new FetchError(`${url}: no data for ${idleMs / 1000} s`)), idleMs);
  };
  try {
    let res: Response;
    try {
      res = await (opts.fetch ?? fetch)(url, { headers, signal: ac.signal, redirect: "follow" });
    } catch (err) {
      throw ac.signal.reason instanceof FetchError ? ac.signal.reason : new FetchError(`${url}: ${(err as Error).message}`);
    }
    let resumedFrom = 0;
    let total = Number(res.headers.get("content-length") ?? 0) || 0;
    if (res.status === 206 && have > 0) {
      const range = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(res.headers.get("content-range") ?? "");
      if (!range || Number(range[1]) !== have) throw new FetchError(`${url}: asked for bytes from ${have}, the server answered ${res.headers.get("content-range") ?? "no Content-Range"}`);
      resumedFrom = have;
      total = range[3] === "*" ? 0 : Number(range[3]);
    } else if (res.status === 416 && have > 0 && res.headers.get("content-range") === `bytes */${have}`) {
      // The partial file is whole already (the last attempt ended before its rename).
      resumedFrom = have;
      total = have;
      await res.body?.cancel();
    } else if (res.status !== 200) {
      await res.body?.cancel();
      throw new FetchError(`${url}: HTTP ${res.status} ${res.statusText}`.trim());
    }
    if (resumedFrom === 0) {
      await rm(part, { force: true });
      await writeFile(meta, (res.headers.get("etag") ?? res.headers.get("last-modified") ?? "") + "\n");
    }
    let bytes = resumedFrom;
    let reported = bytes;
    const maxBytes = opts.maxBytes ?? 8 * 1024 * 1024 * 1024;
    if (total > maxBytes) throw new FetchError(`${url}: ${total} bytes, more than ${maxBytes}`);
    const every = opts.progressEvery ?? 8 * 1024 * 1024;
    if (res.status !== 416 && res.body) {
      const fh = await open(part, resumedFrom > 0 ? "a" : "w", 0o644);
      try {
        const reader = res.body.getReader();
        for (;;) {
          let chunk: Awaited<ReturnType<typeof reader.read>>;
          try {
            chunk = await reader.read();
          } catch (err) {
            throw ac.signal.reason instanceof FetchError ? ac.signal.reason : new FetchError(`${url}: cut off after ${bytes} bytes: ${(err as Error).message}`);
          }
          if (chunk.done) break;
          touch();
          if (bytes + chunk.value.length > maxBytes) throw new FetchError(`${url}: more than ${maxBytes} bytes: cut off`);
          await writeAll(fh, chunk.value);
          bytes += chunk.value.length;
          if (bytes - reported >= every) {
            reported = bytes;
            opts.onProgress?.({ bytes, total, resumedFrom });
          }
        }
        await fh.datasync();
      } finally {
        await fh.close();
      }
    }
    if (total > 0 && bytes !== total) throw new FetchError(`${url}: ${bytes} of ${total} bytes arrived`);
    opts.onProgress?.({ bytes, total: total || bytes, resumedFrom });
    const digest = await sha256Of(part);
    if (opts.sha256 && digest !== opts.sha256.toLowerCase()) {
      await rm(part, { force: true });
      await rm(meta, { force: true });
      throw new FetchError(`${url}: SHA-256 ${digest}, expected ${opts.sha256.toLowerCase()}: removed`);
    }
    await rename(part, target);
    await syncDir(dirname(target));
    await rm(meta, { force: true });
    return { size: bytes, sha256: digest, resumedFrom };
  } finally {
    clearTimeout(timer);
    opts.signal?.removeEventListener("abort", onAbort);
  }
}

/** The SHA-256 of a file, streamed (lower-case hex). */
export async function sha256Of(path: string): Promise<string> {
  const hasher = new Bun.CryptoHasher("sha256");
  for await (const chunk of Bun.file(path).stream()) hasher.update(chunk);
  return hasher.digest("hex");
}
