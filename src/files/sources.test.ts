import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BootFile, FileFacts, FileSource, StaticFileSource } from "./file-source.ts";
import { chainSources, directorySource, embeddedAssetFiles, embeddedSource } from "./sources.ts";

const facts: FileFacts = { protocol: "tftp", remoteAddress: "198.51.100.7", serverAddress: "198.51.100.1" };
const text = async (f: BootFile | undefined, start?: number, end?: number) => new Response(f!.read(start, end)).text();

describe("directorySource", () => {
  let dir: string;
  let src: StaticFileSource;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "socle-fs-"));
    await mkdir(join(dir, "root/sub"), { recursive: true });
    await writeFile(join(dir, "root/sub/file.txt"), "0123456789");
    await writeFile(join(dir, "root/.socle-upload-00ff.part"), "half");
    // An install tree being exploded from an ISO, and the old one being replaced (files/explode.ts).
    await mkdir(join(dir, "root/.socle-explode-00ff.part"));
    await writeFile(join(dir, "root/.socle-explode-00ff.part/vmlinuz"), "half");
    await mkdir(join(dir, "root/.socle-explode-00ff.part.old"));
    await writeFile(join(dir, "root/.socle-explode-00ff.part.old/vmlinuz"), "old");
    await writeFile(join(dir, "outside.txt"), "outside");
    await symlink(join(dir, "outside.txt"), join(dir, "root/out"));
    await symlink("sub/file.txt", join(dir, "root/in"));
    await symlink(join(dir, "root"), join(dir, "root-link"));
    src = directorySource(join(dir, "root-link")); // the root itself may be a symlink
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  test("a file: size, mtime, inode-size-mtime ETag, real disk path, ranged reads", async () => {
    const f = await src.get("sub/file.txt", facts);
    expect(f?.size).toBe(10);
    expect(f?.mtime).toBeInstanceOf(Date);
    expect(f?.etag).toMatch(/^"[0-9a-f]+-a-[0-9a-f]+"$/);
    expect(f?.diskPath).toBe(join(dir, "root/sub/file.txt"));
    expect(await text(f)).toBe("0123456789");
    expect(await text(f, 2, 5)).toBe("234");
    expect(await text(f, 7)).toBe("789");
  });

  test("backslashes are normalised; a symlink inside the root is followed", async () => {
    expect(await text(await src.get("sub\\file.txt", facts))).toBe("0123456789");
    expect((await src.get("in", facts))?.diskPath).toBe(join(dir, "root/sub/file.txt"));
  });

  test("never: outside symlinks, directories, '..', missing files, upload and explode temporaries", async () => {
    for (const p of ["out", "sub", "sub/", "../outside.txt", "sub/../../outside.txt", "nope", "sub/file.txt/x", ".socle-upload-00ff.part", ".socle-explode-00ff.part/vmlinuz", ".socle-explode-00ff.part.old/vmlinuz"]) {
      expect(await src.get(p, facts)).toBeUndefined();
    }
  });

  test("a missing root is an empty source", async () => {
    expect(await directorySource(join(dir, "absent")).get("x", facts)).toBeUndefined();
    expect(await directorySource(join(dir, "absent")).exists("x")).toBe(false);
  });

  test("exists answers as get does, under the same jail", async () => {
    for (const p of ["sub/file.txt", "/sub/file.txt", "sub\\file.txt", "in"]) expect(await src.exists(p)).toBe(true);
    for (const p of ["out", "sub", "../outside.txt", "sub/../../outside.txt", "nope", ".socle-upload-00ff.part", "", "/"]) {
      expect(await src.exists(p)).toBe(false);
    }
  });
});

describe("embeddedSource", () => {
  test("blobs: size, content-hash ETag, ranges; paths normalised", async () => {
    const src = embeddedSource(new Map([["ipxe.efi", new Blob(["MZ-efi-image"])]]));
    const f = await src.get("/ipxe.efi", facts);
    expect(f?.size).toBe(12);
    expect(f?.etag).toMatch(/^"[0-9a-f]+-c"$/);
    expect(f?.diskPath).toBeUndefined();
    expect(await text(f, 3, 6)).toBe("efi");
    expect((await src.get("ipxe.efi", facts))?.etag).toBe(f!.etag!);
    expect(await src.get("other", facts)).toBeUndefined();
  });

  test("exists never reads a blob (get hashes it for the ETag)", async () => {
    class Unreadable extends Blob {
      override arrayBuffer(): Promise<ArrayBuffer> {
        throw new Error("read");
      }
    }
    const src = embeddedSource(new Map([["ipxe.efi", new Unreadable(["MZ"])]]));
    expect(await src.exists("/ipxe.efi")).toBe(true);
    expect(await src.exists("other")).toBe(false);
    expect(await src.exists("../ipxe.efi")).toBe(false);
    await expect(src.get("ipxe.efi", facts)).rejects.toThrow("read");
  });

  test("on-disk entries (running from source) are served with their disk path", async () => {
    const dir = await mkdtemp(join(tmpdir(), "socle-emb-"));
    try {
      await writeFile(join(dir, "undionly.kpxe"), "kpxe");
      const src = embeddedSource(new Map([["undionly.kpxe", { path: join(dir, "undionly.kpxe") }], ["gone", { path: join(dir, "gone") }]]));
      const f = await src.get("undionly.kpxe", facts);
      expect(f?.diskPath).toBe(join(dir, "undionly.kpxe"));
      expect(await text(f)).toBe("kpxe");
      expect(await src.get("gone", facts)).toBeUndefined();
      expect(await src.exists("undionly.kpxe")).toBe(true);
      expect(await src.exists("gone")).toBe(false);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("embeddedAssetFiles", () => {
  test("compiled: Bun.embeddedFiles names under assets/<subdir>/ become request paths", async () => {
    const blob = (name: string, body: string) => Object.assign(new Blob([body]), { name });
    const files = await embeddedAssetFiles("ipxe", {
      embedded: [blob("assets/ipxe/undionly.kpxe", "a"), blob("assets/ipxe/arm64/ipxe.efi", "b"), blob("assets/ui/index.html", "c")],
    });
    expect([...files.keys()].sort()).toEqual(["arm64/ipxe.efi", "undionly.kpxe"]);
  });

  test("from source: the assets directory on disk; missing is empty", async () => {
    const dir = await mkdtemp(join(tmpdir(), "socle-assets-"));
    try {
      await mkdir(join(dir, "ipxe/arm64"), { recursive: true });
      await writeFile(join(dir, "ipxe/ipxe.efi"), "x");
      await writeFile(join(dir, "ipxe/arm64/ipxe.efi"), "y");
      const files = await embeddedAssetFiles("ipxe", { embedded: [], assetsDir: dir });
      expect(files.get("ipxe.efi")).toEqual({ path: join(dir, "ipxe/ipxe.efi") });
      expect([...files.keys()].sort()).toEqual(["arm64/ipxe.efi", "ipxe.efi"]);
      expect((await embeddedAssetFiles("nothing", { embedded: [], assetsDir: dir })).size).toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("chainSources", () => {
  const one = (name: string, body: string): FileSource => ({
    async get(path) {
      if (path !== name) return undefined;
      return { size: body.length, read: () => new Blob([body]).stream() };
    },
  });
  const failing: FileSource = {
    async get(path) {
      if (path === "broken") throw new Error('template "x": parameter "y" is required');
      return undefined;
    },
  };

  test("the first source that has the file wins", async () => {
    const chain = chainSources(one("a", "first"), one("a", "second"), one("b", "third"));
    expect(await text(await chain.get("a", facts))).toBe("first");
    expect(await text(await chain.get("b", facts))).toBe("third");
    expect(await chain.get("c", facts)).toBeUndefined();
  });

  test("an error stops the chain: a broken rendered file never falls through to a static one", async () => {
    const chain = chainSources(failing, one("broken", "stale"));
    await expect(chain.get("broken", facts)).rejects.toThrow('parameter "y" is required');
    // Paths the failing source does not have still reach the next source.
    expect(await text(await chainSources(failing, one("ok", "fine")).get("ok", facts))).toBe("fine");
  });

  test("an empty chain has nothing", async () => {
    expect(await chainSources().get("a", facts)).toBeUndefined();
    expect(await chainSources().exists("a")).toBe(false);
  });

  test("a chain of static sources is static: any source having the file is enough", async () => {
    const only = (name: string) => embeddedSource(new Map([[name, new Blob([name])]]));
    const chain = chainSources(only("a"), only("b"));
    expect(await chain.exists("a")).toBe(true);
    expect(await chain.exists("b")).toBe(true);
    expect(await chain.exists("c")).toBe(false);
  });

  test("a chain with a rendered (non-static) source cannot say whether it has a file", () => {
    expect("exists" in chainSources(one("a", "x"), embeddedSource(new Map()))).toBe(false);
  });
});
