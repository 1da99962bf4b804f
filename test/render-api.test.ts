// Templates through the API: compiled on save (422 with the line), and POST /api/v3/render.
// The first part runs a whole Socle over HTTPS (test/helpers/socle.ts). The render preview needs
// the boot core in the API's deps, which the composition root wires; the second part builds the
// same API in-process over a memory store with the shipped content and a BootCore, so the route is
// tested whatever main does.

import { agentFacts } from "../src/assets/agent-files.ts";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startTestSocle, type TestSocle } from "./helpers/socle.ts";
import { MemoryStore } from "../src/store/memory-store.ts";
import { buildContentLayer } from "../src/content/layer.ts";
import { SHIPPED_FILES } from "../src/content/shipped.ts";
import { SEEDED_BUILTINS } from "../src/content/builtins.ts";
import { ObjectService } from "../src/api/objects.ts";
import { PrefsService } from "../src/api/prefs.ts";
import { EventHub } from "../src/api/events.ts";
import { Authenticator } from "../src/api/authn.ts";
import { createApi } from "../src/api/app.ts";
import { WITHHELD_TOKEN } from "../src/api/routes-render.ts";
import { BootCore } from "../src/boot/core.ts";
import { createStoreBootData } from "../src/adapters/boot-data.ts";
import { nullLogger } from "../src/log/logger.ts";
import { verifyToken } from "../src/auth/tokens.ts";
import { FORMATS, formatNames } from "../src/osconfig/formats.ts";
import { TALOS_CLUSTER, talosSecretsYaml } from "../src/osconfig/fixtures.test-util.ts";
import { ParamCipher } from "../src/model/secure-params.ts";

describe("templates compile on save (HTTPS server)", () => {
  let s: TestSocle;
  beforeAll(async () => {
    s = await startTestSocle();
  });
  afterAll(async () => {
    await s.stop();
  });

  test("a Template that does not compile is refused with its line; a good one is stored", async () => {
    const bad = await s.call("POST", "/api/v3/templates", { body: { ID: "ks.tmpl", Contents: "a\nb\n<% if (x) { %>\nc\n" } });
    expect(bad.status).toBe(422);
    expect(bad.body.Messages).toEqual([expect.stringMatching(/^Contents: template "ks\.tmpl" line 3: JavaScript syntax error/)]);
    expect((await s.call("GET", "/api/v3/templates/ks.tmpl")).status).toBe(404);
    const unclosed = await s.call("POST", "/api/v3/templates", { body: { ID: "ks.tmpl", Contents: "one\n<%= it.x" } });
    expect(unclosed.body.Messages).toEqual(['Contents: template "ks.tmpl" line 2: unclosed tag (column 1)']);
    const good = await s.call("POST", "/api/v3/templates", { body: { ID: "ks.tmpl", Contents: "<%= it.param('x') %>\n" } });
    expect(good.status).toBe(201);
    // An update is checked too.
    const upd = await s.call("PUT", "/api/v3/templates/ks.tmpl", { body: { ID: "ks.tmpl", Contents: "<% } %>" } });
    expect(upd.status).toBe(422);
  });

  test("a BootEnv's BootParams, paths and inline templates are checked, each naming its field", async () => {
    const r = await s.call("POST", "/api/v3/bootenvs", {
      body: {
        Name: "broken",
        BootParams: "console=<%= it.param('c'",
        Templates: [
          { Name: "ok", Path: "ok.txt", Contents: "fine" },
          { Name: "ipxe", Path: "<%= it.Machine.MacAddr( %>.ipxe", Contents: "#!ipxe\n\n<% if ( %>" },
        ],
      },
    });
    expect(r.status).toBe(422);
    expect(r.body.Messages).toEqual([
      "BootParams: template \"broken/BootParams\" line 1: unclosed tag (column 9)",
      expect.stringMatching(/^Templates\[1\]\.Path: template "broken\/ipxe\/Path" line 1: JavaScript syntax error/),
      expect.stringMatching(/^Templates\[1\]\.Contents: template "broken\/ipxe" line 3: JavaScript syntax error/),
    ]);
  });
});

describe("POST /api/v3/render", () => {
  const store = new MemoryStore({ layer: buildContentLayer(SHIPPED_FILES) });
  const objects = new ObjectService(store);
  const serverKey = "k".repeat(32);
  const authn = new Authenticator({ store, serverKey, log: nullLogger, registrationSecret: "r".repeat(32) });
  const prefs = new PrefsService(store);
  let boot: BootCore;
  let app: ReturnType<typeof createApi>;
  let adminToken = "";
  let viewerToken = "";
  let machineUuid = "";

  beforeAll(async () => {
    await store.open();
    for (const { type, obj } of SEEDED_BUILTINS) await objects.save(type, objects.def(type).prepare(obj));
    await objects.create("roles", { Name: "previewer", Claims: [{ Scope: "render", Action: "render", Specific: "*" }] });
    await objects.create("roles", { Name: "machine-reader", Claims: [{ Scope: "machines", Action: "get", Specific: "*" }] });
    const admin = await objects.save("users", objects.def("users").prepare({ Name: "admin", Roles: ["superuser"], Secret: "s".repeat(32) }));
    const viewer = await objects.save("users", objects.def("users").prepare({ Name: "viewer", Roles: ["previewer", "machine-reader"], Secret: "v".repeat(32) }));
    const renderOnly = await objects.save("users", objects.def("users").prepare({ Name: "render-only", Roles: ["previewer"], Secret: "p".repeat(32) }));
    const other = await objects.save("users", objects.def("users").prepare({ Name: "other", Roles: [], Secret: "o".repeat(32) }));
    adminToken = authn.tokenForUser(admin, 3600).token;
    viewerToken = authn.tokenForUser(viewer, 3600).token;
    otherToken = authn.tokenForUser(other, 3600).token;
    renderOnlyToken = authn.tokenForUser(renderOnly, 3600).token;
    const data = createStoreBootData(store, nullLogger);
    boot = new BootCore({
      data,
      log: nullLogger,
      httpPort: 8091,
      apiPort: 8092,
      tokens: { machine: () => "unused", registration: () => "unused" },
      agent: agentFacts(),
    });
    app = createApi({ store, objects, authn, prefs, events: new EventHub(store), log: nullLogger, info: () => ({}), version: "test", boot });

    await objects.create("params", { Name: "preview-tz", Schema: { type: "string", default: "UTC" } });
    await objects.create("profiles", { Name: "site", Params: { "ntp-server": "198.51.100.1" } });
    await objects.replace("profiles", "global", { Name: "global", Params: { domain: "lab.example" } });
    await objects.create("templates", { ID: "kick.tmpl", Contents: "# <%= it.Machine.Name %>\n<%~ include('kick-net.tmpl', it) %>preview-tz <%= it.param('preview-tz') %>\n" });
    await objects.create("templates", { ID: "kick-net.tmpl", Contents: "network --hostname=<%= it.Machine.Name %>.<%= it.param('domain') %>\ntimesource --ntp-server=<%= it.param('ntp-server') %>\ndisk <%= it.param('disk') %>\n" });
    const m = await objects.create("machines", { Name: "n1", HardwareAddrs: ["52:54:00:00:00:01"], Profiles: ["site"], Params: { disk: "vda" } });
    machineUuid = String(m.Uuid);
  });
  let otherToken = "";
  let renderOnlyToken = "";
  afterAll(async () => {
    boot.close();
    await store.close();
  });

  const post = async (body: unknown, token = adminToken) => {
    const res = await app.fetch(
      new Request("http://198.51.100.1/api/v3/render", { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${token}` }, body: JSON.stringify(body) }),
    );
    return { status: res.status, body: (await res.json()) as any };
  };

  test("a template for a machine: output and the layer of each parameter", async () => {
    const r = await post({ Machine: "Name:n1", Template: "kick.tmpl" });
    expect(r.status).toBe(200);
    expect(r.body.Output).toBe("# n1\nnetwork --hostname=n1.lab.example\ntimesource --ntp-server=198.51.100.1\ndisk vda\npreview-tz UTC\n");
    expect(r.body.Params).toEqual([
      { Name: "disk", Value: "vda", Source: "machine" },
      { Name: "domain", Value: "lab.example", Source: "global" },
      { Name: "ntp-server", Value: "198.51.100.1", Source: "profile:site" },
      { Name: "preview-tz", Value: "UTC", Source: "default" },
    ]);
  });

  test("errors are 422 naming the missing parameter, template and line", async () => {
    await objects.replace("machines", machineUuid, { ...objects.redact(objects.def("machines"), objects.get("machines", machineUuid)), Params: {} });
    const r = await post({ Machine: machineUuid, Template: "kick.tmpl" });
    expect(r.status).toBe(422);
    expect(r.body.Messages).toEqual([
      'template "kick.tmpl" line 2 -> template "kick-net.tmpl" line 3: parameter "disk" is not set for machine "n1" (looked in the machine, its profiles, the global profile and the Param\'s default)',
    ]);
    const missing = await post({ Machine: machineUuid, Contents: "a\n<%~ include('nope.tmpl', it) %>" });
    expect(missing.status).toBe(422);
    expect(missing.body.Messages).toEqual(['template "Contents" line 2: template "nope.tmpl" not found']);
    const syntax = await post({ Contents: "x\ny\n<% if ( %>" });
    expect(syntax.body.Messages[0]).toMatch(/^template "Contents" line 3: JavaScript syntax error/);
    const bad = await post({ Machine: "Name:zz", Template: "kick.tmpl", Colour: 1 });
    expect(bad.status).toBe(422);
    expect(bad.body.Messages).toEqual(["Colour: unknown field; valid fields: Machine, BootEnv, Template, Contents, Path, Format, Formats"]);
    expect((await post({ Machine: "Name:zz", Template: "kick.tmpl" })).body.Messages).toEqual(['Machine: machine "Name:zz" not found']);
  });

  test("shipped content: the local env's iPXE script by its served path, and the dispatcher", async () => {
    const r = await post({ Machine: "Name:n1", Path: "52:54:00:00:00:01.ipxe" });
    expect(r.status).toBe(200);
    expect(r.body.Output).toStartWith("#!ipxe\n");
    expect(r.body.Output).toContain("n1");
    const d = await post({ Path: "default.ipxe" });
    expect(d.body.Output).toContain("chain --autofree http://198.51.100.1:8091/boot/${netX/mac:hexhyp}.ipxe");
  });

  test("GenerateToken: real tokens only for callers who could get them anyway", async () => {
    const contents = "<%= it.GenerateToken() %>";
    const asAdmin = await post({ Machine: "Name:n1", Contents: contents });
    const p = verifyToken(asAdmin.body.Output, serverKey, (kind, sub) => (kind === "machine" && sub === machineUuid ? String(store.get("machines", machineUuid)!.Secret) : undefined), Date.now());
    expect(p).toMatchObject({ kind: "machine", name: machineUuid });
    const reg = await post({ Contents: contents });
    expect(verifyToken(reg.body.Output, serverKey, (kind) => (kind === "registration" ? "r".repeat(32) : undefined), Date.now()).kind).toBe("registration");
    await objects.create("templates", { ID: "token.tmpl", Contents: contents });
    const asViewer = await post({ Machine: "Name:n1", Template: "token.tmpl" }, viewerToken);
    expect(asViewer).toEqual({ status: 200, body: { Output: WITHHELD_TOKEN, Params: [] } });
    expect((await post({ Template: "token.tmpl" }, viewerToken)).body.Output).toBe(WITHHELD_TOKEN);
  });

  test("the render claim is required; Contents (code) also needs the claim to create templates", async () => {
    const r = await post({ Template: "kick.tmpl" }, otherToken);
    expect(r.status).toBe(403);
    expect(r.body.Messages).toEqual(['user "other" may not render render']);
    const code = await post({ Contents: "<%= 1 + 1 %>" }, viewerToken);
    expect(code.status).toBe(403);
    expect(code.body.Messages).toEqual(['user "viewer" may not create templates']);
  });

  test("a render for a known machine also needs the claim to get that machine (by Machine, or by its per-MAC Path)", async () => {
    const byName = await post({ Machine: "Name:n1", Template: "kick-net.tmpl" }, renderOnlyToken);
    expect(byName.status).toBe(403);
    expect(byName.body.Messages).toEqual(['user "render-only" may not render for Machine "Name:n1": rendering for a machine needs the claim to get that machine']);
    expect(JSON.stringify(byName.body)).not.toContain(machineUuid);
    for (const path of ["boot/52:54:00:00:00:01.ipxe", "/boot/52-54-00-00-00-01.ipxe", "grub/boot/52:54:00:00:00:01.cfg"]) {
      const r = await post({ Path: path }, renderOnlyToken);
      expect(r.status).toBe(403);
      expect(r.body.Messages[0]).toContain(`may not render for Path ${JSON.stringify(path)}`);
    }
    // Unknown machines need no machine claim; a reader of the machine renders it.
    expect((await post({ Path: "boot/52:54:00:00:00:99.ipxe" }, renderOnlyToken)).status).toBe(200);
    expect((await post({ Path: "boot/52:54:00:00:00:01.ipxe" }, viewerToken)).status).toBe(200);
  });

  test("attacker: a per-MAC Path spelled as a file server would take it is checked as that MAC's (files/paths.ts normalises both)", async () => {
    for (const path of ["boot//52:54:00:00:00:01.ipxe", "boot\\52:54:00:00:00:01.ipxe", "./boot/./52-54-00-00-00-01.ipxe", "grub\\boot\\52:54:00:00:00:01.cfg"]) {
      const r = await post({ Path: path }, renderOnlyToken);
      expect([path, r.status]).toEqual([path, 403]);
      expect(JSON.stringify(r.body)).not.toContain("inst.ks");
      expect((await post({ Path: path }, viewerToken)).status).toBe(200);
    }
    // A Path no client could ask for is refused with the reason, never looked up.
    const up = await post({ Path: "boot/../../etc/passwd" }, viewerToken);
    expect(up.status).toBe(422);
    expect(up.body.Messages).toEqual(['Path: "boot/../../etc/passwd" is no path a client could ask for: ".." is not allowed']);
  });
});

describe("POST /api/v3/render with Formats (the OS profile as each format)", () => {
  const store = new MemoryStore({ layer: buildContentLayer(SHIPPED_FILES) });
  // os-users is a Secure param (it holds password hashes): stored sealed, opened for the render.
  const cipher = new ParamCipher(ParamCipher.generateKey());
  const objects = new ObjectService(store, { cipher });
  const authn = new Authenticator({ store, serverKey: "f".repeat(32), log: nullLogger, registrationSecret: "g".repeat(32) });
  let boot: BootCore;
  let app: ReturnType<typeof createApi>;
  let token = "";
  let uuid = "";
  const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIformats deploy@site";

  beforeAll(async () => {
    await store.open();
    for (const { type, obj } of SEEDED_BUILTINS) await objects.save(type, objects.def(type).prepare(obj));
    const admin = await objects.save("users", objects.def("users").prepare({ Name: "admin", Roles: ["superuser"], Secret: "a".repeat(32) }));
    token = authn.tokenForUser(admin, 3600).token;
    boot = new BootCore({ data: createStoreBootData(store, nullLogger), log: nullLogger, httpPort: 8091, apiPort: 8092, tokens: { machine: () => "unused", registration: () => "unused" }, agent: agentFacts(), cipher });
    app = createApi({ store, objects, authn, prefs: new PrefsService(store), events: new EventHub(store), log: nullLogger, info: () => ({}), version: "test", boot });
    const m = await objects.create("machines", { Name: "f1.example.com", HardwareAddrs: ["52:54:00:00:00:0f"], BootEnv: "fcos", Params: { "access-keys": { ops: KEY } } });
    uuid = String(m.Uuid);
  });
  afterAll(async () => {
    boot.close();
    await store.close();
  });

  const post = async (body: unknown) => {
    const res = await app.fetch(new Request("http://198.51.100.1/api/v3/render", { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${token}` }, body: JSON.stringify(body) }));
    return { status: res.status, body: (await res.json()) as any };
  };
  const setParams = async (params: Record<string, unknown>) => {
    const cur = objects.redact(objects.def("machines"), objects.get("machines", uuid));
    await objects.replace("machines", uuid, { ...cur, Params: { "access-keys": { ops: KEY }, ...params } });
  };

  test("Format: the Ignition config with the layer of each parameter", async () => {
    const r = await post({ Machine: uuid, Format: "ignition" });
    expect(r.status).toBe(200);
    expect(r.body.Format).toBe("ignition");
    expect(r.body.ContentType).toBe(FORMATS.ignition!.contentType);
    const cfg = JSON.parse(r.body.Output);
    expect(cfg.ignition.version).toBe("3.4.0");
    expect(cfg.passwd.users).toEqual([{ name: "core", sshAuthorizedKeys: [KEY] }]);
    expect(cfg.storage.files[0]).toMatchObject({ path: "/etc/hostname", contents: { source: "data:,f1" } });
    expect(r.body.Params).toContainEqual({ Name: "access-keys", Value: { ops: KEY }, Source: "machine" });
    expect(r.body.Params).toContainEqual({ Name: "timezone", Value: "Etc/UTC", Source: "default" });
    // The BootEnv chooses the variant: Flatcar reads 3.3.0 by default.
    expect(JSON.parse((await post({ Machine: uuid, BootEnv: "flatcar", Format: "ignition" })).body.Output).ignition.version).toBe("3.3.0");
  });

  test("a change to os-users shows in the Ignition preview and in every format of the table that carries users", async () => {
    // Each row of osconfig/formats.ts, including rows added later: it renders, or, when it needs
    // params beyond the profile that this machine lacks (Talos's cluster and secrets), it fails
    // naming them. Formats that carry no users (instance metadata, network, vendor-data, Talos, metaldata) are exempt
    // from showing the new user.
    const NO_USERS = new Set(["meta-data", "network-config", "vendor-data", "talos", "metaldata"]);
    const renderAll = async () => {
      const out = new Map<string, string>();
      for (const name of formatNames()) {
        const r = await post({ Machine: uuid, Format: name });
        if (r.status === 422) {
          expect(`${name}: ${r.body.Messages[0]}`).toMatch(/: is not set/);
          continue;
        }
        expect(`${name}: ${r.status}`).toBe(`${name}: 200`);
        expect(r.body.ContentType).toBe(FORMATS[name]!.contentType);
        out.set(name, r.body.Output);
      }
      return out;
    };
    const before = await renderAll();
    expect(before.has("ignition")).toBe(true);
    await setParams({ "os-users": [{ name: "deploy", groups: ["wheel"], sudo: true, sshAuthorizedKeys: [KEY] }] });
    const after = await renderAll();
    expect([...after.keys()]).toEqual([...before.keys()]);
    for (const [name, text] of after) {
      if (NO_USERS.has(name)) continue;
      expect(`${name}: ${text}`).not.toBe(`${name}: ${before.get(name)}`);
      expect(`${name}: ${text}`).toContain("deploy");
    }
    const ign = JSON.parse(after.get("ignition")!);
    expect(ign.passwd.users[1]).toEqual({ name: "deploy", sshAuthorizedKeys: [KEY], groups: ["wheel"] });
    expect(ign.storage.files.map((f: { path: string }) => f.path)).toContain("/etc/sudoers.d/socle-deploy");

    // Formats: several at once, each with its text, and the provenance of every param once.
    const names = [...after.keys()];
    const all = await post({ Machine: uuid, Formats: names });
    expect(all.status).toBe(200);
    expect(all.body.Formats.map((f: { Format: string }) => f.Format)).toEqual(names);
    all.body.Formats.forEach((f: { Format: string; Output: string }) => expect(f.Output).toBe(after.get(f.Format)!));
    expect(all.body.Params).toContainEqual({ Name: "os-users", Value: [{ name: "deploy", groups: ["wheel"], sudo: true, sshAuthorizedKeys: [KEY] }], Source: "machine" });
    expect(new Set(all.body.Params.map((p: { Name: string }) => p.Name)).size).toBe(all.body.Params.length);
  });

  test("one model: each profile param changes exactly the formats that carry it, and every format carries one", async () => {
    // Talos renders too: its cluster and secrets are set on the machine.
    const base = { "talos-cluster": TALOS_CLUSTER, "talos-secrets": talosSecretsYaml() };
    const renderAll = async () => {
      const r = await post({ Machine: uuid, Formats: formatNames() });
      expect(r.status).toBe(200);
      return new Map<string, string>(r.body.Formats.map((f: { Format: string; Output: string }) => [f.Format, f.Output]));
    };
    const KEY2 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIsecond second@site";
    const cases: Array<[string, Record<string, unknown>, string[]]> = [
      ["access-keys", { "access-keys": { ops: KEY, second: KEY2 } }, ["cloud-config", "ignition", "metaldata"]],
      ["os-network", { "os-network": { interfaces: [{ name: "eth0", addresses: ["198.51.100.9/24"], gateway4: "198.51.100.1" }] } }, ["ignition", "network-config", "talos"]],
      ["os-kernel-args", { "os-kernel-args": ["console=ttyS1"] }, ["cloud-config", "ignition", "talos"]],
      ["dns-domain", { "dns-domain": "rack.example" }, ["cloud-config"]],
      ["linuxkit-user-data", { "linuxkit-user-data": "{}" }, ["metaldata"]],
      ["talos-config-patch", { "talos-config-patch": "machine:\n  kubelet:\n    extraArgs:\n      max-pods: '50'\n" }, ["talos"]],
    ];
    const touched = new Set<string>();
    for (const [param, value, formats] of cases) {
      await setParams(base);
      const before = await renderAll();
      await setParams({ ...base, ...value });
      const after = await renderAll();
      const changed = formatNames().filter((f) => after.get(f) !== before.get(f));
      expect(`${param}: ${changed.join(", ")}`).toBe(`${param}: ${formats.join(", ")}`);
      changed.forEach((f) => touched.add(f));
    }
    // meta-data carries only the machine's own identity (its Uuid and Name, no param) and
    // vendor-data is an empty cloud-config; every other format shows a param.
    expect(formatNames().filter((f) => !touched.has(f))).toEqual(["meta-data", "vendor-data"]);
    await setParams({});
  });

  test("bad values and bad requests: 422 naming the param, 400 naming an unknown format", async () => {
    await setParams({ "os-network": { interfaces: [{ name: "eth0", addresses: ["198.51.100.9/24"], gateway4: "203.0.113.1" }] } });
    const bad = await post({ Machine: uuid, Format: "ignition" });
    expect(bad.status).toBe(422);
    expect(bad.body.Messages[0]).toContain('os-network: interfaces[0].gateway4: "203.0.113.1" lies in none of this link\'s IPv4 subnets (198.51.100.9/24)');
    await setParams({});
    const unknown = await post({ Machine: uuid, Formats: ["ignition", "yaml-ish"] });
    expect(unknown.status).toBe(400);
    expect(unknown.body.Messages).toEqual([`Formats: unknown format "yaml-ish"; known: ${formatNames().join(", ")}`]);
    expect((await post({ Machine: uuid, Format: "ignition", Template: "x" })).body.Messages).toEqual(["Format: cannot be combined with Template"]);
    expect((await post({ Machine: uuid, Formats: "ignition" })).body.Messages).toEqual(['Formats: expected a non-empty list of format names, got "ignition"']);
    const noMachine = await post({ Format: "ignition" });
    expect(noMachine.status).toBe(422);
    expect(noMachine.body.Messages[0]).toContain("it.OsConfig needs a machine");
  });
});
