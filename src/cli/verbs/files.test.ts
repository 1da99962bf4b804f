// `socle files|isos list|upload|download|delete` through runCli against a fake file API on
// loopback (plain HTTP, real sockets, bodies streamed both ways). test/cli-files.test.ts runs the
// same verbs against the real server.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCli } from "../main.ts";

interface Seen {
  method: string;
  path: string;
  search: string;
  contentLength: string | null;
  transferEncoding: string | null;
}

const sha = (b: Uint8Array | string) => createHash("sha256").update(b).digest("hex");
const notFound = (area: string, key: string) =>
  Response.json({ Model: area, Key: key, Type: "NotFound", Messages: [`${area} "${key}" not found`], Code: 404 }, { status: 404 });

let server: ReturnType<typeof Bun.serve>;
let endpoint: string;
const stored = new Map<string, Uint8Array>(); // "files/a/b" -> bytes
const seen: Seen[] = [];
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "socle-cli-files-"));
  server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    maxRequestBodySize: 1024 * 1024 * 1024,
    async fetch(req) {
      const url = new URL(req.url);
      seen.push({
        method: req.method,
        path: url.pathname,
        search: url.search,
        contentLength: req.headers.get("content-length"),
        transferEncoding: req.headers.get("transfer-encoding"),
      });
      const m = /^\/api\/v3\/(files|isos)(?:\/(.*))?$/.exec(url.pathname);
      if (!m) return notFound("api", url.pathname);
      const area = m[1] as string;
      const rel = m[2] === undefined ? undefined : decodeURIComponent(m[2]);
      if (rel === undefined) {
        if (req.method !== "GET") return new Response(null, { status: 405 });
        const under = (url.searchParams.get("path") ?? "").replace(/^\/+|\/+$/g, "");
        const prefix = `${area}/${under === "" ? "" : under + "/"}`;
        const names = new Set<string>();
        for (const k of stored.keys()) {
          if (!k.startsWith(prefix)) continue;
          const rest = k.slice(prefix.length);
          names.add(rest.includes("/") ? rest.slice(0, rest.indexOf("/") + 1) : rest);
        }
        if (names.size === 0 && under !== "") return notFound(area, under);
        return Response.json([...names].sort());
      }
      const key = `${area}/${rel}`;
      if (req.method === "GET") {
        const data = stored.get(key);
        if (!data) return notFound(area, rel);
        return new Response(data, { headers: { "Content-Type": "application/octet-stream" } });
      }
      if (req.method === "PUT") {
        if (area === "isos" && rel.includes("/")) {
          return Response.json(
            { Model: "isos", Key: rel, Type: "BadRequest", Messages: [`invalid isos name "${rel}": no directories allowed`], Code: 400 },
            { status: 400 },
          );
        }
        const data = new Uint8Array(await req.arrayBuffer());
        const created = !stored.has(key);
        stored.set(key, data);
        // A server that stores something else than it was sent (the CLI must notice).
        const digest = rel === "liar" ? sha("something else") : sha(data);
        return Response.json({ Path: rel, Size: data.length, Sha256: digest }, { status: created ? 201 : 200 });
      }
      if (req.method === "DELETE") {
        if (!stored.delete(key)) return notFound(area, rel);
        return new Response(null, { status: 204 });
      }
      return new Response(null, { status: 405 });
    },
  });
  endpoint = `http://127.0.0.1:${server.port}`;
});

afterAll(() => {
  server.stop(true);
  rmSync(dir, { recursive: true, force: true });
});

async function cli(argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const bytes: Uint8Array[] = [];
  const code = await runCli(["-E", endpoint, ...argv], { SOCLE_DATA_DIR: join(dir, "no-data-dir") }, {
    out: (s) => out.push(s),
    err: (s) => err.push(s),
    writeBytes: async (c) => {
      bytes.push(c.slice());
    },
  }, { serve: async () => 0 });
  return { code, out, err, stdout: out.join("\n"), stderr: err.join("\n"), bytes: Buffer.concat(bytes) };
}

/** Runs `fn` with the current directory set to `cwd` (default download names land there). */
async function inDir<T>(cwd: string, fn: () => Promise<T>): Promise<T> {
  const before = process.cwd();
  process.chdir(cwd);
  try {
    return await fn();
  } finally {
    process.chdir(before);
  }
}

/** Leftover temporary files of a download in `d`. */
const partials = (d: string) => readdirSync(d).filter((n) => n.includes("socle-download"));

function workDir(name: string): string {
  const d = join(dir, name);
  mkdirSync(d, { recursive: true });
  return d;
}

describe("files", () => {
  test("upload a few MB, list it, download it byte-identical", async () => {
    const d = workDir("roundtrip");
    const data = new Uint8Array(3 * 1024 * 1024 + 17).map((_, i) => (i * 131 + (i >> 9)) & 0xff);
    writeFileSync(join(d, "vmlinuz"), data);
    const up = await cli(["files", "upload", join(d, "vmlinuz"), "rocky/9/vmlinuz"]);
    expect(up.stderr).toBe("");
    expect(up.code).toBe(0);
    expect(JSON.parse(up.stdout)).toEqual({ Path: "rocky/9/vmlinuz", Size: data.length, Sha256: sha(data) });
    const put = seen.findLast((s) => s.method === "PUT");
    expect(put?.path).toBe("/api/v3/files/rocky/9/vmlinuz");
    expect(put?.contentLength).toBe(String(data.length));
    expect(put?.transferEncoding).toBeNull();

    const root = await cli(["files", "list"]);
    expect(root.code).toBe(0);
    expect(JSON.parse(root.stdout)).toContain("rocky/");
    const sub = await cli(["-o", "table", "files", "list", "rocky/9"]);
    expect(sub.stdout).toBe("vmlinuz");
    expect(seen.findLast((s) => s.method === "GET" && s.path === "/api/v3/files")?.search).toBe("?path=rocky%2F9");

    const out = join(d, "copy");
    const down = await cli(["files", "download", "rocky/9/vmlinuz", out]);
    expect(down.stderr).toBe("");
    expect(down.code).toBe(0);
    expect(JSON.parse(down.stdout)).toEqual({ Path: "rocky/9/vmlinuz", File: out, Size: data.length, Sha256: sha(data) });
    expect(sha(readFileSync(out))).toBe(sha(data));
    expect(partials(d)).toEqual([]);
  });

  test("the remote name defaults to the local base name; a trailing / is a directory", async () => {
    const d = workDir("names");
    writeFileSync(join(d, "snp.efi"), "efi bytes");
    expect((await cli(["files", "upload", join(d, "snp.efi")])).code).toBe(0);
    expect(seen.findLast((s) => s.method === "PUT")?.path).toBe("/api/v3/files/snp.efi");
    expect((await cli(["files", "upload", join(d, "snp.efi"), "arm64/"])).code).toBe(0);
    expect(seen.findLast((s) => s.method === "PUT")?.path).toBe("/api/v3/files/arm64/snp.efi");
    expect((await cli(["files", "upload", join(d, "snp.efi"), "with space/a#b.efi"])).code).toBe(0);
    expect(seen.findLast((s) => s.method === "PUT")?.path).toBe("/api/v3/files/with%20space/a%23b.efi");
    expect(new TextDecoder().decode(stored.get("files/with space/a#b.efi"))).toBe("efi bytes");
  });

  test("download defaults to the base name in the current directory, or into a directory", async () => {
    const d = workDir("default-download");
    stored.set("files/boot/menu.ipxe", new TextEncoder().encode("#!ipxe\n"));
    const r = await inDir(d, () => cli(["files", "download", "boot/menu.ipxe"]));
    expect(r.code).toBe(0);
    expect(readFileSync(join(d, "menu.ipxe"), "utf8")).toBe("#!ipxe\n");
    mkdirSync(join(d, "into"));
    expect((await cli(["files", "download", "boot/menu.ipxe", join(d, "into")])).code).toBe(0);
    expect(readFileSync(join(d, "into", "menu.ipxe"), "utf8")).toBe("#!ipxe\n");
  });

  test("download to - writes the bytes to standard output", async () => {
    stored.set("files/stdout.bin", new Uint8Array([0, 1, 2, 255]));
    const r = await cli(["files", "download", "stdout.bin", "-"]);
    expect(r.code).toBe(0);
    expect([...r.bytes]).toEqual([0, 1, 2, 255]);
    expect(r.out).toEqual([]);
  });

  test("an existing local file is replaced only with --force", async () => {
    const d = workDir("overwrite");
    stored.set("files/new.cfg", new TextEncoder().encode("new"));
    const target = join(d, "new.cfg");
    writeFileSync(target, "old");
    const before = seen.length;
    const refused = await cli(["files", "download", "new.cfg", target]);
    expect(refused.code).toBe(1);
    expect(refused.err).toEqual([`Error: "${target}" exists: pass --force to replace it`]);
    expect(seen.length).toBe(before); // refused before asking the server
    expect(readFileSync(target, "utf8")).toBe("old");
    const forced = await cli(["files", "download", "new.cfg", target, "--force"]);
    expect(forced.code).toBe(0);
    expect(readFileSync(target, "utf8")).toBe("new");
    expect(partials(d)).toEqual([]);
  });

  test("a 404 download leaves no local file and no temporary file", async () => {
    const d = workDir("notfound");
    const r = await inDir(d, () => cli(["files", "download", "missing.efi"]));
    expect(r.code).toBe(1);
    expect(r.err).toEqual(['Error: NotFound 404: files "missing.efi" not found']);
    expect(readdirSync(d)).toEqual([]);
  });

  test("a download cut off mid-way leaves no local file, and an existing one untouched", async () => {
    // A raw HTTP server that promises 4 MiB, sends 1 MiB and closes the connection.
    const raw = Bun.listen({
      hostname: "127.0.0.1",
      port: 0,
      socket: {
        data(sock) {
          sock.write("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 4194304\r\n\r\n");
          sock.write(new Uint8Array(1024 * 1024).fill(7));
          sock.flush();
          setTimeout(() => sock.end(), 50);
        },
      },
    });
    try {
      const d = workDir("cutoff");
      const ep = `http://127.0.0.1:${raw.port}`;
      const r = await cli(["-E", ep, "files", "download", "big.iso", join(d, "img")]);
      expect(r.code).toBe(1);
      expect(r.stderr).toStartWith(`Error: GET ${ep}/api/v3/files/big.iso: cut off after `);
      expect(readdirSync(d)).toEqual([]);
      writeFileSync(join(d, "img"), "keep me");
      expect((await cli(["-E", ep, "files", "download", "big.iso", join(d, "img"), "--force"])).code).toBe(1);
      expect(readdirSync(d)).toEqual(["img"]);
      expect(readFileSync(join(d, "img"), "utf8")).toBe("keep me");
    } finally {
      raw.stop(true);
    }
  });

  test("delete", async () => {
    stored.set("files/gone.txt", new Uint8Array([1]));
    const r = await cli(["files", "delete", "gone.txt"]);
    expect(r.code).toBe(0);
    expect(r.out).toEqual(["Deleted file gone.txt"]);
    expect(stored.has("files/gone.txt")).toBe(false);
    const again = await cli(["files", "delete", "gone.txt"]);
    expect(again.code).toBe(1);
    expect(again.err).toEqual(['Error: NotFound 404: files "gone.txt" not found']);
  });

  test("a missing or unreadable local file is one line, before any request", async () => {
    const before = seen.length;
    const missing = await cli(["files", "upload", join(dir, "nope.iso")]);
    expect(missing.code).toBe(1);
    expect(missing.err).toEqual([`Error: cannot read "${join(dir, "nope.iso")}": no such file`]);
    const isDir = await cli(["files", "upload", dir]);
    expect(isDir.code).toBe(1);
    expect(isDir.err).toEqual([`Error: cannot upload "${dir}": it is a directory`]);
    expect(seen.length).toBe(before);
  });

  test("a server answer that does not match what was sent is an error", async () => {
    const d = workDir("liar");
    writeFileSync(join(d, "liar"), "the real bytes");
    const r = await cli(["files", "upload", join(d, "liar")]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`does not match: sent 14 bytes with SHA-256 ${sha("the real bytes")}`);
  });

  test("usage errors name what is missing; help lists the verbs", async () => {
    const noFile = await cli(["files", "upload"]);
    expect(noFile.code).toBe(2);
    expect(noFile.err).toEqual(["Error: missing argument\nusage: socle files upload <local-file> [remote-path]"]);
    const noRemote = await cli(["isos", "download"]);
    expect(noRemote.code).toBe(2);
    expect(noRemote.err).toEqual(["Error: missing argument\nusage: socle isos download <name> [local-file|dir|-] [--force]"]);
    expect((await cli(["files", "delete", "a", "b"])).err[0]).toContain('unexpected argument "b"');
    expect((await cli(["isos", "list", "sub"])).code).toBe(2);
    expect((await cli(["files", "download", "x", "--forse"])).err[0]).toStartWith('Error: unknown flag "--forse"');
    const frob = await cli(["files", "frob"]);
    expect(frob.code).toBe(2);
    expect(frob.stderr).toStartWith('Error: unknown files command "frob"\nUsage:');
    const help = await cli(["files", "--help"]);
    expect(help.code).toBe(0);
    for (const verb of ["list", "upload", "download", "delete"]) expect(help.stdout).toContain(`socle files ${verb}`);
    expect((await cli(["isos"])).code).toBe(2);
    const main = await cli(["help"]);
    expect(main.stdout).toContain("socle isos upload <local-file> [name]");
  });
});

describe("isos", () => {
  test("upload, list, download, delete with flat names", async () => {
    const d = workDir("isos");
    const data = new Uint8Array(2 * 1024 * 1024).map((_, i) => (i * 7) & 0xff);
    writeFileSync(join(d, "rocky.iso"), data);
    const up = await cli(["-o", "table", "isos", "upload", join(d, "rocky.iso")]);
    expect(up.code).toBe(0);
    expect(up.stdout.split("\n")).toEqual([
      "FIELD   VALUE",
      "Path    rocky.iso",
      `Size    ${data.length}`,
      `Sha256  ${sha(data)}`,
    ]);
    expect(JSON.parse((await cli(["isos", "list"])).stdout)).toEqual(["rocky.iso"]);
    const out = join(d, "back.iso");
    expect((await cli(["isos", "download", "rocky.iso", out])).code).toBe(0);
    expect(sha(readFileSync(out))).toBe(sha(data));
    expect((await cli(["isos", "delete", "rocky.iso"])).out).toEqual(["Deleted iso rocky.iso"]);
    expect(existsSync(out)).toBe(true);
    const bad = await cli(["isos", "upload", join(d, "rocky.iso"), "sub/x.iso"]);
    expect(bad.code).toBe(1);
    expect(bad.err).toEqual(['Error: BadRequest 400: invalid isos name "sub/x.iso": no directories allowed']);
  });
});
