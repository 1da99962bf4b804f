// The operator file areas: `files` (/api/v3/files/<path>, a tree: what the boot file server
// serves) and `isos` (/api/v3/isos/<name>, flat), each with list, upload, download and delete.
// Uploads stream the local file as the request body (never read whole into memory) and check the
// server's size and SHA-256 against what was read. Downloads stream into a temporary file beside
// the target, renamed over it only once complete: an error never leaves a partial file, and an
// existing file is replaced only with --force.

import { randomBytes } from "node:crypto";
import { statSync, type Stats } from "node:fs";
import { open, rename, rm, type FileHandle } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { keyPath } from "../api-client.ts";
import { CliError, UsageError } from "../cli-error.ts";
import type { VerbContext } from "../context.ts";
import { watchEvents, type StreamMessage } from "../event-stream.ts";
import { boolFlag, parseVerbArgs } from "../verb-args.ts";
import { usageOf, type CommandGroup, type VerbFlag, type VerbSpec } from "../verb-spec.ts";

export type FileArea = "files" | "isos";
export const FILE_AREAS: readonly FileArea[] = ["files", "isos"];

/** Bytes read from the local file per chunk of an upload. */
const CHUNK = 1024 * 1024;

type AreaVerb = (ctx: VerbContext, area: FileArea, verb: VerbSpec, args: string[]) => Promise<number>;

/** `socle files ...` or `socle isos ...`: the four verbs and the notes of the area's help. */
export function fileAreaCommand(area: FileArea): CommandGroup {
  const remote = area === "files" ? "<remote-path>" : "<name>";
  const verb = (name: string, synopsis: string, run: AreaVerb, flags: VerbFlag[] = []) => {
    const spec: VerbSpec = { path: [area, name], synopsis, flags, run: (ctx, args) => run(ctx, area, spec, args) };
    return spec;
  };
  const notes =
    area === "files"
      ? [
          "Paths are relative to <data-dir>/files, what TFTP and HTTP boot serve. The remote path",
          "defaults to the local file's name; one ending in / is a directory to put it in.",
        ]
      : ["Names are flat (no directories) in <data-dir>/isos. The name defaults to the local file's name."];
  return {
    name: area,
    verbs: [
      verb("list", area === "files" ? "[dir]" : "", list),
      verb("upload", `<local-file> [${remote.slice(1, -1)}]`, upload),
      verb("download", `${remote} [local-file|dir|-]`, download, [{ name: "force", kind: "bool" }]),
      verb("delete", remote, remove),
    ],
    notes: [
      ...notes,
      "download writes <local-file> (default: the remote name in the current directory; - is standard",
      "output) only once it is complete, and replaces an existing file only with --force.",
    ],
  };
}

/** API path of a remote file: each segment percent-encoded, leading slashes dropped. */
function apiPath(area: FileArea, remote: string): string {
  return `${area}/${remote.replace(/^\/+/, "").split("/").map(encodeURIComponent).join("/")}`;
}

function requireRemote(remote: string, usage: string): string {
  if (remote.replace(/^\/+/, "") === "") throw new UsageError(`empty remote path\nusage: ${usage}`);
  return remote;
}

const errCode = (e: unknown) => (e as { code?: string }).code ?? (e as Error).message ?? String(e);

async function list(ctx: VerbContext, area: FileArea, verb: VerbSpec, args: string[]): Promise<number> {
  const { pos } = parseVerbArgs(args, verb, { min: 0, max: area === "files" ? 1 : 0 });
  const query = new URLSearchParams();
  if (pos[0] !== undefined && pos[0] !== "") query.set("path", pos[0]);
  ctx.print(await ctx.api().request("GET", area, { query }));
  return 0;
}

async function upload(ctx: VerbContext, area: FileArea, verb: VerbSpec, args: string[]): Promise<number> {
  const usage = usageOf(verb);
  const { pos } = parseVerbArgs(args, verb, { min: 1, max: 2 });
  const local = pos[0] as string;
  let remote = requireRemote(pos[1] ?? basename(local), usage);
  if (area === "files" && remote.endsWith("/")) remote += basename(local);

  let st: Stats;
  let fh: FileHandle;
  try {
    st = statSync(local);
    if (st.isDirectory()) throw new CliError(`cannot upload "${local}": it is a directory`);
    fh = await open(local, "r");
  } catch (e) {
    if (e instanceof CliError) throw e;
    const code = errCode(e);
    throw new CliError(`cannot read "${local}": ${code === "ENOENT" ? "no such file" : code}`);
  }
  const size = st.size;
  const hasher = new Bun.CryptoHasher("sha256");
  let offset = 0;
  // Exactly `size` bytes (the Content-Length), read on demand: the request pulls the next chunk
  // only when the previous one is on its way.
  const body = new ReadableStream<Uint8Array>(
    {
      async pull(c) {
        if (offset >= size) {
          c.close();
          return;
        }
        const buf = new Uint8Array(Math.min(CHUNK, size - offset));
        let n: number;
        try {
          n = (await fh.read(buf, 0, buf.length, offset)).bytesRead;
        } catch (e) {
          throw new CliError(`cannot read "${local}": ${errCode(e)}`);
        }
        if (n === 0) throw new CliError(`cannot upload "${local}": it shrank while being read (${offset} of ${size} bytes)`);
        const chunk = n === buf.length ? buf : buf.subarray(0, n);
        hasher.update(chunk);
        offset += n;
        c.enqueue(chunk);
      },
    },
    { highWaterMark: 0 },
  );
  // An ISO is exploded into the boot environments that name it while the upload's answer waits:
  // its progress comes on the event stream, shown on stderr.
  const watch = area === "isos" ? await followExplode(ctx, remote) : undefined;
  let res: unknown;
  try {
    res = await ctx.api().putStream(apiPath(area, remote), body, size);
  } finally {
    await fh.close().catch(() => {});
    await watch?.stop();
  }
  const answer = (res ?? {}) as { Size?: unknown; Sha256?: unknown };
  const sha = hasher.digest("hex");
  if (answer.Size !== size || answer.Sha256 !== sha) {
    throw new CliError(
      `upload of "${local}" to ${area} "${remote}" does not match: sent ${size} bytes with SHA-256 ${sha}, the server stored ${String(answer.Size)} bytes with SHA-256 ${String(answer.Sha256)}`,
    );
  }
  ctx.print(res);
  // An ISO's explode into the boot environments naming it: each refusal on stderr, and exit 1.
  const refused = ((res as { Exploded?: Array<{ BootEnv?: string; Error?: string }> }).Exploded ?? []).filter((e) => e.Error);
  for (const e of refused) ctx.io.err(`bootenv ${e.BootEnv}: ${e.Error}`);
  return refused.length > 0 ? 1 : 0;
}

async function download(ctx: VerbContext, area: FileArea, verb: VerbSpec, args: string[]): Promise<number> {
  const usage = usageOf(verb);
  const { pos, flags } = parseVerbArgs(args, verb, { min: 1, max: 2 });
  const remote = requireRemote(pos[0] as string, usage);
  const force = boolFlag(flags.get("force"));
  const remoteBase = basename(remote.replace(/\/+$/, ""));
  const path = apiPath(area, remote);

  if (pos[1] === "-") {
    const write = ctx.io.writeBytes;
    if (!write) throw new CliError("standard output is not available here");
    const epipe = (e: unknown) => (e as { code?: string }).code === "EPIPE";
    try {
      await ctx.api().getStream(path, async (chunk) => {
        await write(chunk).catch((e: unknown) => {
          throw epipe(e) ? e : new CliError(`cannot write to standard output: ${errCode(e)}`);
        });
      });
    } catch (e) {
      // The reader went away (`| head -c 100`): what it wanted, it has; not an error of ours.
      if (epipe(e)) return 0;
      throw e;
    }
    return 0;
  }

  const local = pos[1] ?? remoteBase;
  const existing = statOrUndefined(local);
  const target = local.endsWith("/") || existing?.isDirectory() ? join(local, remoteBase) : local;
  const refuse = (st: Stats | undefined) => {
    if (st?.isDirectory()) throw new CliError(`cannot write "${target}": it is a directory`);
    if (st && !force) throw new CliError(`"${target}" exists: pass --force to replace it`);
  };
  refuse(target === local ? existing : statOrUndefined(target));

  const tmp = join(dirname(target), `.${basename(target)}.socle-download-${randomBytes(6).toString("hex")}.part`);
  let fh: FileHandle;
  try {
    fh = await open(tmp, "wx");
  } catch (e) {
    const code = errCode(e);
    throw new CliError(`cannot write "${target}": ${code === "ENOENT" ? `no such directory "${dirname(target)}"` : code}`);
  }
  const hasher = new Bun.CryptoHasher("sha256");
  try {
    const { bytes } = await ctx.api().getStream(path, async (chunk) => {
      hasher.update(chunk);
      try {
        for (let off = 0; off < chunk.byteLength; ) off += (await fh.write(chunk, off)).bytesWritten;
      } catch (e) {
        throw new CliError(`cannot write "${target}": ${errCode(e)}`);
      }
    });
    try {
      await fh.sync();
      await fh.close();
    } catch (e) {
      throw new CliError(`cannot write "${target}": ${errCode(e)}`);
    }
    refuse(statOrUndefined(target)); // created while we were downloading?
    try {
      await rename(tmp, target);
    } catch (e) {
      throw new CliError(`cannot write "${target}": ${errCode(e)}`);
    }
    ctx.print({ Path: remote, File: target, Size: bytes, Sha256: hasher.digest("hex") });
    return 0;
  } catch (e) {
    await fh.close().catch(() => {});
    await rm(tmp, { force: true }).catch(() => {});
    throw e;
  }
}

async function remove(ctx: VerbContext, area: FileArea, verb: VerbSpec, args: string[]): Promise<number> {
  const usage = usageOf(verb);
  const { pos } = parseVerbArgs(args, verb, { min: 1, max: 1 });
  const remote = requireRemote(pos[0] as string, usage);
  await ctx.api().request("DELETE", apiPath(area, remote));
  ctx.io.out(`Deleted ${area === "files" ? "file" : "iso"} ${remote}`);
  return 0;
}

function statOrUndefined(p: string): Stats | undefined {
  try {
    return statSync(p);
  } catch {
    return undefined;
  }
}

/** Progress of an ISO's explodes, as a bar per boot environment on stderr (a line per tenth). */
async function followExplode(ctx: VerbContext, iso: string): Promise<{ stop: () => Promise<void> }> {
  const ac = new AbortController();
  const shown = new Map<string, number>();
  let ready = () => {};
  const opened = new Promise<void>((r) => (ready = r));
  const onMessage = (m: StreamMessage) => {
    if (m.Type !== "isos" || m.Action !== "progress") return;
    const o = m.Object;
    const env = String(o.BootEnv ?? "");
    const total = Number(o.TotalBytes ?? 0);
    const bytes = Number(o.Bytes ?? 0);
    const fetching = o.State === "fetching";
    const running = o.State === "exploding" || fetching;
    const tenth = running ? Math.floor((total > 0 ? bytes / total : 1) * 10) : 11;
    const step = fetching ? `fetch ${iso}` : env;
    if ((shown.get(step) ?? -1) >= tenth) return;
    shown.set(step, tenth);
    if (o.State === "refused") return; // the answer says why
    const bar = "#".repeat(Math.min(tenth, 10)).padEnd(10, "-");
    const what = fetching ? `${mib(bytes)}/${mib(total)} MiB` : `${o.Files ?? 0}/${o.TotalFiles ?? 0} files, ${mib(bytes)}/${mib(total)} MiB`;
    ctx.io.err(`${iso} -> ${fetching ? "isos/" : ""}${fetching ? iso : (o.Path ?? env)}: [${bar}] ${o.State === "done" ? "done" : `${Math.min(tenth, 10) * 10}%`} ${what}`);
  };
  // What it shows is extra to the answer of the request it watches: a lost or refused stream ends
  // the progress quietly, and never holds up the request.
  const done = watchEvents(ctx.api(), {
    query: { types: ["isos"], keys: [iso] },
    signal: ac.signal,
    onMessage,
    onOpen: ready,
    onDrop: ready,
  }).catch(() => ready());
  await Promise.race([opened, Bun.sleep(3000)]);
  return {
    stop: async () => {
      await Promise.race([done, Bun.sleep(200)]); // the last event may still be on its way
      ac.abort();
      await done;
    },
  };
}

const mib = (n: number) => (n / (1024 * 1024)).toFixed(1);

const FETCH_ISO: VerbSpec = {
  path: ["bootenvs", "fetch-iso"],
  synopsis: "<name>",
  flags: [],
  summary: "the server fetches the env's OS.IsoUrl (resumable), checks OS.IsoSha256 and explodes it",
  run: fetchIso,
};

export const BOOTENV_VERBS: readonly VerbSpec[] = [FETCH_ISO];

/** `bootenvs fetch-iso <name>`: progress (the fetch, then each explode) on stderr, the answer on stdout. */
async function fetchIso(ctx: VerbContext, args: string[]): Promise<number> {
  const { pos } = parseVerbArgs(args, FETCH_ISO, { min: 1, max: 1 });
  const name = pos[0] as string;
  const env = (await ctx.api().request("GET", keyPath("bootenvs", name))) as { OS?: { IsoFile?: string } };
  const watch = env.OS?.IsoFile ? await followExplode(ctx, env.OS.IsoFile) : undefined;
  let res: unknown;
  try {
    // A DVD over a slow link takes a while: the answer comes when the fetch and explodes are done.
    res = (await ctx.api().exchange("POST", keyPath("bootenvs", name, "fetch-iso"), { timeoutMs: 6 * 3600_000 })).body;
  } finally {
    await watch?.stop();
  }
  ctx.print(res);
  const refused = ((res as { Exploded?: Array<{ BootEnv?: string; Error?: string }> }).Exploded ?? []).filter((e) => e.Error);
  for (const e of refused) ctx.io.err(`bootenv ${e.BootEnv}: ${e.Error}`);
  return refused.length > 0 ? 1 : 0;
}
