// Uploads, listings, downloads and deletes through /api/v3/files and /api/v3/isos against a real
// Socle (HTTPS, admin credentials), plus the upload function's limit and cleanup on its own.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readdir, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startTestSocle, type TestSocle } from "./helpers/socle.ts";
import { uploadFile } from "../src/api/routes-files.ts";
import { directorySource } from "../src/files/sources.ts";
import { SocleError } from "../src/model/errors.ts";

let t: TestSocle;
const sha = (b: Uint8Array | string) => createHash("sha256").update(b).digest("hex");
const octets = "application/octet-stream";

beforeAll(async () => {
  t = await startTestSocle();
});
afterAll(async () => {
  await t.stop();
});

describe("/api/v3/files", () => {
  test("PUT streams the body into <data-dir>/files, creating directories; answers size and SHA-256", async () => {
    const data = new Uint8Array(5 * 1024 * 1024 + 3).map((_, i) => (i * 31) & 0xff);
    const r = await t.call("PUT", "/api/v3/files/rocky/9/images/pxeboot/vmlinuz", { raw: data, type: octets });
    expect(r.status).toBe(201);
    expect(r.body).toEqual({ Path: "rocky/9/images/pxeboot/vmlinuz", Size: data.length, Sha256: sha(data) });
    const onDisk = new Uint8Array(await Bun.file(join(t.dir, "files/rocky/9/images/pxeboot/vmlinuz")).arrayBuffer());
    expect(onDisk).toEqual(data);
    // What the boot file server will serve is the same file.
    const served = await directorySource(join(t.dir, "files")).get("rocky/9/images/pxeboot/vmlinuz", { protocol: "http", remoteAddress: "", serverAddress: "" });
    expect(served?.size).toBe(data.length);
  });

  test("POST works too; replacing a file answers 200 and leaves no temporary file", async () => {
    expect((await t.call("POST", "/api/v3/files/boot.ipxe", { raw: "#!ipxe\nexit\n", type: octets })).status).toBe(201);
    const r = await t.call("PUT", "/api/v3/files/boot.ipxe", { raw: "#!ipxe\nshell\n", type: octets });
    expect(r.status).toBe(200);
    expect(r.body.Sha256).toBe(sha("#!ipxe\nshell\n"));
    expect(await Bun.file(join(t.dir, "files/boot.ipxe")).text()).toBe("#!ipxe\nshell\n");
    expect((await readdir(join(t.dir, "files"))).filter((n) => n.includes("socle-upload"))).toEqual([]);
  });

  test("an empty body makes an empty file", async () => {
    const r = await t.call("PUT", "/api/v3/files/empty", { raw: "", type: octets });
    expect(r.status).toBe(201);
    expect(r.body).toEqual({ Path: "empty", Size: 0, Sha256: sha("") });
  });

  test("GET lists a directory DRP-style; GET of a file downloads it; HEAD gives its length", async () => {
    const root = await t.call("GET", "/api/v3/files");
    expect(root.status).toBe(200);
    expect(root.body).toEqual(["boot.ipxe", "empty", "rocky/"]);
    expect((await t.call("GET", "/api/v3/files?path=/rocky/9/")).body).toEqual(["images/"]);
    const res = await t.req("GET", "/api/v3/files/boot.ipxe");
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("#!ipxe\nshell\n");
    const head = await t.req("HEAD", "/api/v3/files/boot.ipxe");
    expect(head.headers.get("content-length")).toBe("13");
  });

  test("missing files and directories are 404 in the API error shape", async () => {
    const r = await t.call("GET", "/api/v3/files/nope.txt");
    expect(r.status).toBe(404);
    expect(r.body).toMatchObject({ Model: "files", Key: "nope.txt", Type: "NotFound", Code: 404 });
    expect((await t.call("GET", "/api/v3/files?path=nope")).status).toBe(404);
    expect((await t.call("GET", "/api/v3/files/rocky")).status).toBe(404); // a directory is not a file
  });

  test("traversal is refused (400) and nothing is written outside the root", async () => {
    for (const p of ["..%2fescape", "a%2f..%2f..%2fescape", "..%5cescape", "C:%5cescape", "x%00y"]) {
      const r = await t.call("PUT", `/api/v3/files/${p}`, { raw: "x", type: octets });
      expect(r.status).toBe(400);
      expect(r.body.Type).toBe("BadRequest");
    }
    expect((await t.call("GET", "/api/v3/files?path=..%2F..")).status).toBe(400);
    expect(await Bun.file(join(t.dir, "escape")).exists()).toBe(false);
  });

  test("a symlink leading outside the root cannot be written through, listed into or read", async () => {
    const outside = join(t.dir, "outside");
    await mkdir(outside, { recursive: true });
    await writeFile(join(outside, "secret"), "secret\n");
    await symlink(outside, join(t.dir, "files/link-out"));
    const put = await t.call("PUT", "/api/v3/files/link-out/new", { raw: "x", type: octets });
    expect(put.status).toBe(400);
    expect(await Bun.file(join(outside, "new")).exists()).toBe(false);
    expect((await t.call("GET", "/api/v3/files?path=link-out")).status).toBe(404);
    expect((await t.call("GET", "/api/v3/files/link-out/secret")).status).toBe(404);
    expect((await t.call("GET", "/api/v3/files")).body).not.toContain("link-out/");
    // Deleting the link removes the link, never what it points to.
    expect((await t.call("DELETE", "/api/v3/files/link-out")).status).toBe(204);
    expect(await Bun.file(join(outside, "secret")).exists()).toBe(true);
  });

  test("a file in the way of a directory, or a directory in the way of a file: 409", async () => {
    expect((await t.call("PUT", "/api/v3/files/boot.ipxe/child", { raw: "x", type: octets })).status).toBe(409);
    expect((await t.call("PUT", "/api/v3/files/rocky", { raw: "x", type: octets })).status).toBe(409);
  });

  test("DELETE removes files and empty directories; a non-empty directory is 409", async () => {
    expect((await t.call("DELETE", "/api/v3/files/rocky/9")).status).toBe(409);
    expect((await t.call("DELETE", "/api/v3/files/rocky/9/images/pxeboot/vmlinuz")).status).toBe(204);
    expect((await t.call("DELETE", "/api/v3/files/rocky/9/images/pxeboot")).status).toBe(204);
    expect((await t.call("DELETE", "/api/v3/files/rocky/9/images/pxeboot")).status).toBe(404);
    expect((await t.call("GET", "/api/v3/files?path=rocky/9/images")).body).toEqual([]);
  });

  test("without credentials: 401; nothing written", async () => {
    expect((await t.call("PUT", "/api/v3/files/anon", { raw: "x", type: octets, auth: null })).status).toBe(401);
    expect(await Bun.file(join(t.dir, "files/anon")).exists()).toBe(false);
  });
});

describe("/api/v3/isos", () => {
  test("upload, list, download, delete; names only", async () => {
    const iso = new Uint8Array(100_000).fill(0x43);
    const up = await t.call("PUT", "/api/v3/isos/rocky-9.iso", { raw: iso, type: octets });
    expect(up.status).toBe(201);
    expect(up.body).toEqual({ Path: "rocky-9.iso", Size: iso.length, Sha256: sha(iso), Exploded: [] }); // no bootenv names it
    expect((await t.call("GET", "/api/v3/isos")).body).toEqual(["rocky-9.iso"]);
    expect((await (await t.req("GET", "/api/v3/isos/rocky-9.iso")).arrayBuffer()).byteLength).toBe(iso.length);
    expect((await t.call("PUT", "/api/v3/isos/sub/dir.iso", { raw: "x", type: octets })).status).toBe(400);
    expect((await t.call("DELETE", "/api/v3/isos/rocky-9.iso")).status).toBe(204);
    expect((await t.call("GET", "/api/v3/isos")).body).toEqual([]);
  });
});

describe("uploadFile", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "socle-upload-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const area = () => ({ scope: "files" as const, root: join(dir, "files"), flat: false });
  const stream = (...chunks: string[]) =>
    new ReadableStream<Uint8Array>({
      start(c) {
        for (const s of chunks) c.enqueue(new TextEncoder().encode(s));
        c.close();
      },
    });

  test("over the limit while streaming: 413, no file and no temporary file left", async () => {
    const err = await uploadFile(area(), "big", stream("12345", "67890", "x"), { limit: 10 }).catch((e) => e);
    expect(err).toBeInstanceOf(SocleError);
    expect((err as SocleError).code).toBe(413);
    expect(err.message).toContain('cannot upload "big"');
    expect(await readdir(join(dir, "files"))).toEqual([]);
  });

  test("a declared length over the limit is refused before anything is read", async () => {
    const err = await uploadFile(area(), "big", stream("x"), { limit: 10, declared: 11 }).catch((e) => e);
    expect((err as SocleError).code).toBe(413);
  });

  test("exactly at the limit is accepted", async () => {
    const { result, created } = await uploadFile(area(), "ok", stream("12345", "67890"), { limit: 10 });
    expect(created).toBe(true);
    expect(result).toEqual({ Path: "ok", Size: 10, Sha256: sha("1234567890") });
  });

  test("a body that fails mid-way: 400, the old file is kept, no temporary file", async () => {
    const broken = new ReadableStream<Uint8Array>({
      pull(c) {
        c.error(new Error("connection reset"));
      },
    });
    const err = await uploadFile(area(), "ok", broken, { limit: 100 }).catch((e) => e);
    expect((err as SocleError).code).toBe(400);
    expect(await Bun.file(join(dir, "files/ok")).text()).toBe("1234567890");
    expect((await readdir(join(dir, "files"))).sort()).toEqual(["ok"]);
  });
});
