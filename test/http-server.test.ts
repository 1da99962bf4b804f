// The boot file server on 127.0.0.1 against a real client (curl): GET, HEAD, Range, ETag and
// Last-Modified validators, traversal attempts with --path-as-is, symlinks, methods, and a chain
// of a rendered source, a directory and embedded assets.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtemp, mkdir, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startHttpServer, type HttpServer } from "../src/http/server.ts";
import { chainSources, directorySource, embeddedSource } from "../src/files/sources.ts";
import type { BootFile, FileFacts, FileSource } from "../src/files/file-source.ts";
import { textFile } from "../src/files/text-file.ts";
import { invalid } from "../src/model/errors.ts";
import { createLogger } from "../src/log/logger.ts";

let dir: string;
let server: HttpServer;
let base: string;
const lines: string[] = [];
const seen: FileFacts[] = [];
const BIG = new Uint8Array(3 * 1024 * 1024 + 17).map((_, i) => (i * 7 + 3) & 0xff);

/** Stands in for the boot core's rendered files: one per-machine script, one broken template. */
const rendered: FileSource = {
  async get(path, facts) {
    seen.push(facts);
    if (path === "machines/m1/boot.ipxe") {
      const body = new TextEncoder().encode(`#!ipxe\nchain http://${facts.serverAddress}:8091/next\n`);
      return { size: body.length, read: (s = 0, e = body.length) => new Blob([body.slice(s, e)]).stream() } satisfies BootFile;
    }
    if (path === "machines/m1/broken.ks") throw invalid("templates", "ks", 'template "ks": parameter "rootpw" is required');
    if (path === "machines/m1/bug") throw new Error("a bug");
    if (path === "machines/m1/talos.yaml") return textFile("machine:\n  type: controlplane\n", path);
    return undefined;
  },
};

async function curl(...args: string[]): Promise<{ code: number; headers: Record<string, string>; body: Uint8Array; status: number }> {
  const hdr = join(dir, `hdr-${Math.random().toString(16).slice(2)}`);
  const p = Bun.spawn(["curl", "-s", "-S", "--max-time", "20", "-D", hdr, "-o", "-", ...args], { stdout: "pipe", stderr: "pipe" });
  const body = new Uint8Array(await new Response(p.stdout).arrayBuffer());
  const code = await p.exited;
  const raw = await Bun.file(hdr).text().catch(() => "");
  const headers: Record<string, string> = {};
  let status = 0;
  for (const line of raw.split("\r\n")) {
    const m = /^HTTP\/[\d.]+ (\d+)/.exec(line);
    if (m) status = Number(m[1]);
    const i = line.indexOf(":");
    if (i > 0) headers[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim();
  }
  return { code, headers, body, status };
}

const url = (p: string) => `${base}${p}`;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "socle-http-"));
  const root = join(dir, "files");
  await mkdir(join(root, "debian/install"), { recursive: true });
  await mkdir(join(dir, "outside"), { recursive: true });
  await writeFile(join(root, "debian/install/linux"), BIG);
  await writeFile(join(root, "hello.ipxe"), "#!ipxe\necho hello\n");
  await writeFile(join(root, "with space.txt"), "spaced\n");
  await writeFile(join(root, "cluster.yml"), "cluster: {}\n");
  await writeFile(join(dir, "outside/secret"), "secret\n");
  await writeFile(join(dir, "secret"), "secret\n");
  await symlink(join(dir, "outside/secret"), join(root, "escape"));
  await symlink(join(dir, "outside"), join(root, "escape-dir"));
  await symlink("hello.ipxe", join(root, "alias.ipxe"));
  const assets = new Map([
    ["undionly.kpxe", new Blob([new Uint8Array([0x55, 0xaa, 1, 2, 3])])],
    ["hello.ipxe", new Blob(["shadowed by the files dir\n"])],
  ]);
  server = startHttpServer({
    listen: "127.0.0.1",
    port: 0,
    source: chainSources(rendered, directorySource(root), embeddedSource(assets)),
    log: createLogger({ level: "debug", sink: (l) => lines.push(l) }),
  });
  base = `http://127.0.0.1:${server.port}`;
});

afterAll(async () => {
  await server.stop();
  await rm(dir, { recursive: true, force: true });
});

describe("GET and HEAD", () => {
  test("a static file: body, length, type, validators", async () => {
    const r = await curl(url("/debian/install/linux"));
    expect(r.status).toBe(200);
    expect(r.body).toEqual(BIG);
    expect(r.headers["content-length"]).toBe(String(BIG.length));
    expect(r.headers["content-type"]).toBe("application/octet-stream");
    expect(r.headers["accept-ranges"]).toBe("bytes");
    expect(r.headers["etag"]).toMatch(/^"[0-9a-f]+-[0-9a-f]+-[0-9a-f]+"$/);
    expect(Date.parse(r.headers["last-modified"]!)).not.toBeNaN();
  });

  test("HEAD: the same headers, no body", async () => {
    const r = await curl("-I", url("/debian/install/linux"));
    expect(r.status).toBe(200);
    expect(r.headers["content-length"]).toBe(String(BIG.length));
    // curl -I prints the headers as its output; fetch shows the body is empty.
    const res = await fetch(url("/debian/install/linux"), { method: "HEAD" });
    expect(res.headers.get("content-length")).toBe(String(BIG.length));
    expect((await res.arrayBuffer()).byteLength).toBe(0);
  });

  test("text types for iPXE scripts; percent-encoded names", async () => {
    const r = await curl(url("/hello.ipxe"));
    expect(r.headers["content-type"]).toBe("text/plain; charset=utf-8");
    expect(new TextDecoder().decode(r.body)).toBe("#!ipxe\necho hello\n");
    expect(new TextDecoder().decode((await curl(url("/with%20space.txt"))).body)).toBe("spaced\n");
  });

  test("YAML is application/yaml, static or rendered: one table (files/content-type.ts)", async () => {
    expect((await curl(url("/cluster.yml"))).headers["content-type"]).toBe("application/yaml");
    const r = await curl(url("/machines/m1/talos.yaml"));
    expect(r.headers["content-type"]).toBe("application/yaml");
    expect(new TextDecoder().decode(r.body)).toBe("machine:\n  type: controlplane\n");
  });

  test("backslashes and doubled slashes are normalised", async () => {
    const r = await curl("--path-as-is", url("/debian\\install\\linux"));
    expect(r.status).toBe(200);
    expect((await curl("--path-as-is", url("//debian//install/./linux"))).status).toBe(200);
  });

  test("a symlink inside the root is served", async () => {
    const r = await curl(url("/alias.ipxe"));
    expect(r.status).toBe(200);
    expect(new TextDecoder().decode(r.body)).toBe("#!ipxe\necho hello\n");
  });

  test("embedded assets come last in the chain", async () => {
    const r = await curl(url("/undionly.kpxe"));
    expect(r.status).toBe(200);
    expect([...r.body]).toEqual([0x55, 0xaa, 1, 2, 3]);
    expect(r.headers["etag"]).toBeDefined();
  });
});

describe("Range", () => {
  test("a middle range: 206 with Content-Range", async () => {
    const r = await curl("-r", "100-1123", url("/debian/install/linux"));
    expect(r.status).toBe(206);
    expect(r.headers["content-range"]).toBe(`bytes 100-1123/${BIG.length}`);
    expect(r.body).toEqual(BIG.slice(100, 1124));
  });

  test("an open range resumes a download; a suffix range takes the tail", async () => {
    const open = await curl("-r", "3000000-", url("/debian/install/linux"));
    expect(open.status).toBe(206);
    expect(open.body).toEqual(BIG.slice(3000000));
    const tail = await curl("-r", "-10", url("/debian/install/linux"));
    expect(tail.body).toEqual(BIG.slice(BIG.length - 10));
  });

  test("past the end: 416 with the size", async () => {
    const r = await curl("-r", `${BIG.length}-`, url("/debian/install/linux"));
    expect(r.status).toBe(416);
    expect(r.headers["content-range"]).toBe(`bytes */${BIG.length}`);
  });

  test("several ranges are answered with the whole file", async () => {
    const r = await curl("-r", "0-1,5-6", url("/hello.ipxe"));
    expect(r.status).toBe(200);
    expect(r.body.length).toBe(18);
  });

  test("ranges on embedded blobs and rendered content", async () => {
    const a = await curl("-r", "1-2", url("/undionly.kpxe"));
    expect(a.status).toBe(206);
    expect([...a.body]).toEqual([0xaa, 1]);
    const b = await curl("-r", "0-6", url("/machines/m1/boot.ipxe"));
    expect(new TextDecoder().decode(b.body)).toBe("#!ipxe\n");
  });

  test("If-Range with a stale ETag gets the whole file", async () => {
    const r = await curl("-r", "0-1", "-H", 'If-Range: "stale"', url("/hello.ipxe"));
    expect(r.status).toBe(200);
    const etag = (await curl("-I", url("/hello.ipxe"))).headers["etag"]!;
    expect((await curl("-r", "0-1", "-H", `If-Range: ${etag}`, url("/hello.ipxe"))).status).toBe(206);
  });
});

describe("conditional requests", () => {
  test("If-None-Match with the ETag: 304, no body", async () => {
    const first = await curl(url("/hello.ipxe"));
    const r = await curl("-H", `If-None-Match: ${first.headers["etag"]}`, url("/hello.ipxe"));
    expect(r.status).toBe(304);
    expect(r.body.length).toBe(0);
    expect(r.headers["etag"]).toBe(first.headers["etag"]!);
    expect((await curl("-H", 'If-None-Match: "other"', url("/hello.ipxe"))).status).toBe(200);
  });

  test("If-Modified-Since: 304 when unchanged, 200 when older", async () => {
    const first = await curl("-I", url("/hello.ipxe"));
    const lm = first.headers["last-modified"]!;
    expect((await curl("-H", `If-Modified-Since: ${lm}`, url("/hello.ipxe"))).status).toBe(304);
    const older = new Date(Date.parse(lm) - 3600_000).toUTCString();
    expect((await curl("-H", `If-Modified-Since: ${older}`, url("/hello.ipxe"))).status).toBe(200);
  });

  test("rendered content has no validators and is not cached", async () => {
    const r = await curl(url("/machines/m1/boot.ipxe"));
    expect(r.status).toBe(200);
    expect(r.headers["etag"]).toBeUndefined();
    expect(r.headers["cache-control"]).toBe("no-store");
  });
});

describe("traversal and what is never served", () => {
  const attempts = [
    "/../secret",
    "/debian/../../secret",
    "/%2e%2e/secret",
    "/%2e%2e%2fsecret",
    "/..%2fsecret",
    "/..%2Fsecret",
    "/..%5csecret",
    "/..\\secret",
    "/debian%2f..%2f..%2fsecret",
    "/%252e%252e/secret",
    "/escape",
    "/escape-dir/secret",
    "/C:/secret",
    "/c:%5csecret",
    "/hello.ipxe%00.txt",
  ];
  for (const a of attempts) {
    test(`${a} -> 404`, async () => {
      const r = await curl("--path-as-is", url(a));
      expect(r.status).toBe(404);
      expect(new TextDecoder().decode(r.body)).not.toContain("secret");
    });
  }

  test("a name with a control character is refused as TFTP refuses it (files/paths.ts), even when the file exists; the log says why", async () => {
    await writeFile(join(dir, "files/new\nline"), "x");
    expect((await curl(url("/new%0aline"))).status).toBe(404);
    expect(lines.some((l) => l.includes("not found") && l.includes("control character 0x0a"))).toBe(true);
  });

  test("directories are not listed", async () => {
    expect((await curl(url("/"))).status).toBe(404);
    expect((await curl(url("/debian/"))).status).toBe(404);
    expect((await curl(url("/debian/install"))).status).toBe(404);
  });

  test("malformed percent-encoding: 400", async () => {
    expect((await curl("--path-as-is", url("/%zz"))).status).toBe(400);
  });

  test("other methods: 405 with Allow", async () => {
    for (const m of ["POST", "PUT", "DELETE", "OPTIONS"]) {
      const r = await curl("-X", m, url("/hello.ipxe"));
      expect(r.status).toBe(405);
      expect(r.headers["allow"]).toBe("GET, HEAD");
    }
    expect(await Bun.file(join(dir, "files/hello.ipxe")).text()).toBe("#!ipxe\necho hello\n");
  });
});

describe("rendered files and errors", () => {
  test("FileFacts carry the client and the address it reached", async () => {
    seen.length = 0;
    const r = await curl(url("/machines/m1/boot.ipxe"));
    expect(new TextDecoder().decode(r.body)).toContain(`chain http://127.0.0.1:8091/next`);
    expect(seen[0]).toEqual({ protocol: "http", remoteAddress: "127.0.0.1", serverAddress: "127.0.0.1" });
  });

  test("a template error: 500 naming the parameter, one log line", async () => {
    const r = await curl(url("/machines/m1/broken.ks"));
    expect(r.status).toBe(500);
    expect(new TextDecoder().decode(r.body)).toContain('parameter "rootpw" is required');
    expect(lines.some((l) => l.includes("cannot produce file") && l.includes("broken.ks"))).toBe(true);
  });

  test("a bug in a source: 500, generic text, the server keeps serving", async () => {
    const r = await curl(url("/machines/m1/bug"));
    expect(r.status).toBe(500);
    expect(new TextDecoder().decode(r.body)).not.toContain("a bug");
    expect((await curl(url("/hello.ipxe"))).status).toBe(200);
  });
});
