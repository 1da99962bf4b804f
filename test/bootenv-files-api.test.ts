// A BootEnv whose kernel or initrds are not on the boot file server reads as Available: false,
// naming each missing path, and becomes available when they are uploaded; computed on every read,
// so shipped (read-only) BootEnvs follow the files too. The API is built in-process (createApi over
// a memory store with the shipped content and a data directory) with the static boot file chain
// in its deps, as the composition root wires it; files are uploaded through /api/v3/files.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createApi } from "../src/api/app.ts";
import { Authenticator } from "../src/api/authn.ts";
import type { ApiDeps } from "../src/api/deps.ts";
import { EventHub } from "../src/api/events.ts";
import { ObjectService } from "../src/api/objects.ts";
import { PrefsService } from "../src/api/prefs.ts";
import { chainSources, directorySource, embeddedSource } from "../src/files/sources.ts";
import { superuserClaims, type Principal } from "../src/auth/claims.ts";
import { buildContentLayer } from "../src/content/layer.ts";
import { SHIPPED_FILES } from "../src/content/shipped.ts";
import { nullLogger } from "../src/log/logger.ts";
import { MemoryStore } from "../src/store/memory-store.ts";

const ADMIN = "Bearer admin";
const KERNEL = "rocky-9/install/images/pxeboot/vmlinuz";
const INITRD = "rocky-9/install/images/pxeboot/initrd.img";

let dir: string;
let store: MemoryStore;
let withFiles: ReturnType<typeof createApi>;
let withoutFiles: ReturnType<typeof createApi>;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "socle-bootenv-files-"));
  store = new MemoryStore({ layer: buildContentLayer(SHIPPED_FILES) });
  await store.open();
  const real = new Authenticator({ store, serverKey: "test-server-key-0123456789", registrationSecret: "test-registration-secret-42", log: nullLogger });
  const admin: Principal = { kind: "user", name: "admin", claims: superuserClaims() };
  const authn = Object.create(real) as Authenticator;
  authn.authenticate = async (header, remote) => (header === ADMIN ? admin : real.authenticate(header, remote));
  const deps: ApiDeps = {
    store,
    objects: new ObjectService(store),
    authn,
    prefs: new PrefsService(store),
    events: new EventHub(store),
    log: nullLogger,
    info: () => ({}),
    version: "0.0.0-test",
    dataDir: dir,
  };
  // What src/main.ts serves after the rendered files: <data-dir>/files, then the embedded loaders.
  const bootFiles = chainSources(directorySource(join(dir, "files")), embeddedSource(new Map([["ipxe.efi", new Blob(["MZ"])]])));
  withFiles = createApi({ ...deps, bootFiles });
  withoutFiles = createApi(deps);
});
afterAll(async () => {
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

async function call(method: string, path: string, opts: { body?: unknown; raw?: string; type?: string; app?: ReturnType<typeof createApi> } = {}) {
  const headers: Record<string, string> = { Authorization: ADMIN };
  let body: string | undefined;
  if (opts.raw !== undefined) body = opts.raw;
  else if (opts.body !== undefined) body = JSON.stringify(opts.body);
  if (body !== undefined) headers["Content-Type"] = opts.type ?? "application/json";
  const res = await (opts.app ?? withFiles).fetch(new Request(`https://socle.test${path}`, { method, headers, body }));
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? (JSON.parse(text) as any) : undefined };
}
const upload = (path: string, raw = "x") => call("PUT", `/api/v3/files/${path}`, { raw, type: "application/octet-stream" });
const remove = (path: string) => call("DELETE", `/api/v3/files/${path}`);
const names = (list: Array<{ Name: string }>) => list.map((e) => e.Name);

describe("shipped BootEnvs follow the files on the boot file server", () => {
  test("rocky-9 with nothing on disk: Available false, one error per missing file, each naming its path", async () => {
    const r = await call("GET", "/api/v3/bootenvs/rocky-9");
    expect(r.status).toBe(200);
    expect(r.body.ReadOnly).toBe(true);
    expect(r.body.Available).toBe(false);
    expect(r.body.Errors).toEqual([
      `Kernel: "${KERNEL}" is not on the boot file server (upload it: socle files upload FILE ${KERNEL})`,
      `Initrds[0]: "${INITRD}" is not on the boot file server (upload it: socle files upload FILE ${INITRD})`,
    ]);
  });

  test("local and ignore (no kernel) stay available", async () => {
    for (const name of ["local", "ignore"]) {
      const r = await call("GET", `/api/v3/bootenvs/${name}`);
      expect(r.body).toMatchObject({ Available: true, Errors: [] });
    }
  });

  test("the list and its Available filter see the same status", async () => {
    const all = await call("GET", "/api/v3/bootenvs");
    const rocky = (all.body as Array<{ Name: string; Available: boolean }>).find((e) => e.Name === "rocky-9");
    expect(rocky?.Available).toBe(false);
    const down = await call("GET", "/api/v3/bootenvs?Available=Eq(false)");
    expect(names(down.body)).toContain("rocky-9");
    expect(names(down.body)).not.toContain("local");
    const up = await call("GET", "/api/v3/bootenvs?Available=Eq(true)");
    expect(names(up.body)).toContain("local");
    expect(names(up.body)).not.toContain("rocky-9");
    // Counts (HEAD) and sorting by Available agree with the filter.
    const head = await call("HEAD", "/api/v3/bootenvs?Available=Eq(false)");
    expect(head.headers.get("x-socle-list-total-count")).toBe(String(down.body.length));
    const sorted = await call("GET", "/api/v3/bootenvs?sort=Available");
    const flags = (sorted.body as Array<{ Available: boolean }>).map((e) => e.Available);
    expect(flags).toEqual([...flags].sort((a, b) => Number(a) - Number(b)));
  });

  test("a paged list without a status filter still shows the status of what it returns", async () => {
    const page = await call("GET", "/api/v3/bootenvs?Name=Eq(rocky-9)&limit=1");
    expect(page.body).toEqual([expect.objectContaining({ Name: "rocky-9", Available: false })]);
  });

  test("uploading the kernel leaves only the initrd missing; uploading that makes rocky-9 available", async () => {
    expect((await upload(KERNEL)).status).toBe(201);
    const half = await call("GET", "/api/v3/bootenvs/rocky-9");
    expect(half.body.Available).toBe(false);
    expect(half.body.Errors).toEqual([expect.stringMatching(/^Initrds\[0\]: "rocky-9\/install\/images\/pxeboot\/initrd\.img" is not on/)]);

    expect((await upload(INITRD)).status).toBe(201);
    const whole = await call("GET", "/api/v3/bootenvs/rocky-9");
    expect(whole.body).toMatchObject({ Available: true, Errors: [] });
    expect(names((await call("GET", "/api/v3/bootenvs?Available=Eq(true)")).body)).toContain("rocky-9");
    expect(names((await call("GET", "/api/v3/bootenvs?Available=Eq(false)")).body)).not.toContain("rocky-9");
  });

  test("deleting the kernel again makes it unavailable again, and the ETag changes with the status", async () => {
    const before = await call("GET", "/api/v3/bootenvs/rocky-9");
    expect((await remove(KERNEL)).status).toBe(204);
    const after = await call("GET", "/api/v3/bootenvs/rocky-9");
    expect(after.body.Available).toBe(false);
    expect(after.body.Errors).toEqual([expect.stringMatching(/^Kernel: /)]);
    expect(after.headers.get("etag")).not.toBe(before.headers.get("etag"));
  });

  test("without a boot file server in the deps, BootEnvs read as before (nothing checked)", async () => {
    const r = await call("GET", "/api/v3/bootenvs/rocky-9", { app: withoutFiles });
    expect(r.body).toMatchObject({ Available: true, Errors: [] });
    expect(names((await call("GET", "/api/v3/bootenvs?Available=Eq(false)", { app: withoutFiles })).body)).toEqual([]);
  });
});

describe("BootEnvs created through the API", () => {
  test("a missing kernel is a status, not a refusal: created (201), Available false, in the create answer too", async () => {
    const c = await call("POST", "/api/v3/bootenvs", { body: { Name: "custom", Kernel: "custom/vmlinuz", Initrds: ["custom/initrd"] } });
    expect(c.status).toBe(201);
    expect(c.body.Available).toBe(false);
    expect(c.body.Errors).toEqual([expect.stringMatching(/^Kernel: "custom\/vmlinuz" is not on/), expect.stringMatching(/^Initrds\[0\]: "custom\/initrd" is not on/)]);
    expect((await call("GET", "/api/v3/bootenvs/custom")).body.Available).toBe(false);
    // The status is not stored: the object as written carries only what the write found.
    expect(store.get("bootenvs", "custom")).toMatchObject({ Available: true, Errors: [] });
  });

  test("a dangling template reference and a missing kernel are both reported, reference first", async () => {
    const c = await call("POST", "/api/v3/bootenvs", {
      body: { Name: "dangling", Kernel: "dangling/vmlinuz", Templates: [{ Name: "ipxe", Path: "x.ipxe", ID: "no-such.tmpl" }] },
    });
    expect(c.status).toBe(201);
    expect(c.body.Errors).toEqual(['Templates[0].ID: template "no-such.tmpl" does not exist', expect.stringMatching(/^Kernel: "dangling\/vmlinuz" is not on/)]);
  });

  test("PUT and PATCH answers carry the status; a PATCH test op compares with what GET shows", async () => {
    const put = await call("PUT", "/api/v3/bootenvs/custom", { body: { Name: "custom", Kernel: "custom/vmlinuz", Description: "edited" } });
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({ Description: "edited", Available: false });
    const patch = await call("PATCH", "/api/v3/bootenvs/custom", {
      type: "application/json-patch+json",
      raw: JSON.stringify([
        { op: "test", path: "/Available", value: false },
        { op: "replace", path: "/Description", value: "patched" },
      ]),
    });
    expect(patch.status).toBe(200);
    expect(patch.body).toMatchObject({ Description: "patched", Available: false });
    expect((await upload("custom/vmlinuz")).status).toBe(201);
    expect((await call("GET", "/api/v3/bootenvs/custom")).body).toMatchObject({ Available: true, Errors: [] });
  });

  test("a kernel that is an embedded asset counts as present", async () => {
    const c = await call("POST", "/api/v3/bootenvs", { body: { Name: "chain", Kernel: "ipxe.efi" } });
    expect(c.body).toMatchObject({ Available: true, Errors: [] });
  });

  test("a kernel path written as a template is not checked (it names a file only for a machine)", async () => {
    const c = await call("POST", "/api/v3/bootenvs", { body: { Name: "per-arch", Kernel: "k/<%= it.Machine.Arch %>/vmlinuz" } });
    expect(c.status).toBe(201);
    expect(c.body).toMatchObject({ Available: true, Errors: [] });
  });
});

describe("the check cannot see outside <data-dir>/files", () => {
  beforeAll(async () => {
    // Files that exist outside the boot file root: reported present only if the jail leaked.
    await writeFile(join(dir, "secret"), "outside");
    await mkdir(join(dir, "files"), { recursive: true });
    await symlink(join(dir, "secret"), join(dir, "files/leak"));
    await symlink(dir, join(dir, "files/up"));
  });

  test('".." in a Kernel path is refused on write (422), as before', async () => {
    for (const kernel of ["../secret", "../../etc/passwd", "a/../../secret"]) {
      const r = await call("POST", "/api/v3/bootenvs", { body: { Name: "probe", Kernel: kernel } });
      expect(r.status).toBe(422);
    }
  });

  test("an absolute path is looked up inside the root, never at the host's path", async () => {
    const r = await call("POST", "/api/v3/bootenvs", { body: { Name: "abs", Kernel: "/etc/passwd", Initrds: [join(dir, "secret")] } });
    expect(r.status).toBe(201);
    expect(r.body.Available).toBe(false);
    expect(r.body.Errors).toEqual([
      'Kernel: "/etc/passwd" is not on the boot file server (upload it: socle files upload FILE etc/passwd)',
      expect.stringMatching(/^Initrds\[0\]: ".*\/secret" is not on the boot file server/),
    ]);
  });

  test("backslash climbs are invalid; symlinks leading out of the root are absent", async () => {
    const r = await call("POST", "/api/v3/bootenvs", { body: { Name: "sneaky", Kernel: "..\\secret", Initrds: ["leak", "up/secret", "up/files/leak"] } });
    expect(r.status).toBe(201);
    expect(r.body.Available).toBe(false);
    expect(r.body.Errors).toEqual([
      'Kernel: invalid boot file path "..\\\\secret": empty, "..", NUL or a drive letter',
      expect.stringMatching(/^Initrds\[0\]: "leak" is not on/),
      expect.stringMatching(/^Initrds\[1\]: "up\/secret" is not on/),
      expect.stringMatching(/^Initrds\[2\]: "up\/files\/leak" is not on/),
    ]);
  });
});
