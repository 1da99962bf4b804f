import { describe, expect, test } from "bun:test";
import { createLogger, nullLogger, type Logger } from "../log/logger.ts";
import type { ModelObject } from "../model/object.ts";
import { SocleError } from "../model/errors.ts";
import { bootenvs } from "../model/schemas/bootenvs.ts";
import { machines } from "../model/schemas/machines.ts";
import { templates } from "../model/schemas/templates.ts";
import { profiles } from "../model/schemas/profiles.ts";
import { params } from "../model/schemas/params.ts";
import type { ClientFacts } from "./booter.ts";
import { memoryBootData, type MemoryBootData } from "./boot-data.ts";
import { BootCore } from "./core.ts";
import { decide } from "./decide.ts";
import { ENVELOPE_FIELD, ParamCipher } from "../model/secure-params.ts";
import type { FileFacts } from "../files/file-source.ts";

const MAC1 = "52:54:00:00:00:01";
const MAC2 = "52:54:00:00:00:02";
const UNKNOWN = "52:54:00:99:99:99";
const SERVER = "198.51.100.1";
const N2_LEASE = "198.51.100.8";

const tokensIssued: string[] = [];
const tokens = {
  machine: (uuid: string, ttl: number) => {
    tokensIssued.push(`machine ${uuid} ${ttl}`);
    return `mtok-${uuid.slice(0, 4)}-${ttl}`;
  },
  registration: (ttl: number) => {
    tokensIssued.push(`registration ${ttl}`);
    return `rtok-${ttl}`;
  },
};

function fixture(prefs: Record<string, string> = { unknownBootEnv: "discovery", defaultBootEnv: "local" }, log: Logger = nullLogger): { data: MemoryBootData; core: BootCore; n1: ModelObject; n2: ModelObject } {
  const n1 = machines.prepare({ Name: "n1", Uuid: "00000000-0000-0000-0000-000000000001", HardwareAddrs: [MAC1], Address: "198.51.100.7", BootEnv: "rocky", Profiles: ["site"], Params: { "root-disk": "vda" } });
  const n2 = machines.prepare({ Name: "n2", Uuid: "00000000-0000-0000-0000-000000000002", HardwareAddrs: [MAC2] });
  const data = memoryBootData({
    machines: [n1, n2],
    bootenvs: [
      bootenvs.prepare({
        Name: "local",
        Templates: [{ Name: "ipxe", Path: "<%= it.Machine.MacAddr('ipxe') %>.ipxe", Contents: "#!ipxe\necho local <%= it.Machine.Name %>\nexit\n" }],
      }),
      bootenvs.prepare({
        Name: "discovery",
        OnlyUnknown: true,
        Kernel: "discovery/vmlinuz",
        BootParams: "socle.token=<%= it.GenerateToken() %> socle.url=<%= it.ProvisionerURL %>",
        Templates: [
          { Name: "ipxe", Path: "discovery.ipxe", Contents: "#!ipxe\nkernel <%= it.ProvisionerURL %>/<%= it.Env.Kernel %> <%= it.BootParams %>\nboot\n" },
          { Name: "per-machine", Path: "<%= it.Machine.Path %>/never", Contents: "x" },
          { Name: "clash", Path: "default.ipxe", Contents: "not the dispatcher" },
          { Name: "grub", Path: "grub/discovery.cfg", Contents: "linux /discovery/arm64/vmlinuz <%= it.BootParams %> BOOTIF=01-${net_default_mac}\nboot\n" },
          { Name: "grub-clash", Path: "grub/grub.cfg", Contents: "not the GRUB dispatcher" },
        ],
      }),
      bootenvs.prepare({
        Name: "rocky",
        Kernel: "rocky/vmlinuz",
        BootParams: "inst.ks=<%= it.Machine.Url %>/ks.cfg",
        RequiredParams: ["root-disk"],
        Loaders: { amd64: "custom/ipxe.efi" },
        Templates: [
          { Name: "ipxe", Path: "<%= it.Machine.MacAddr('ipxe') %>.ipxe", ID: "rocky-ipxe.tmpl" },
          { Name: "kickstart", Path: "<%= it.Machine.Path %>/ks.cfg", ID: "rocky-ks.tmpl" },
          { Name: "pxelinux", Path: "pxelinux.cfg/<%= it.Machine.MacAddr('pxelinux') %>", Contents: "DEFAULT rocky\n" },
        ],
      }),
    ],
    templates: [
      templates.prepare({ ID: "rocky-ipxe.tmpl", Contents: "#!ipxe\nkernel <%= it.ProvisionerURL %>/<%= it.Env.Kernel %> <%= it.BootParams %>\nboot\n" }),
      templates.prepare({ ID: "rocky-ks.tmpl", Contents: "# <%= it.Machine.Name %>\n<%~ include('ks-disk', it) %>reboot\n" }),
      templates.prepare({ ID: "ks-disk", Contents: "ignoredisk --only-use=<%= it.param('root-disk') %>\ntimezone <%= it.param('timezone') %>\nrootpw <%= it.param('root-hash') %>\n" }),
    ],
    profiles: [
      profiles.prepare({ Name: "global", Params: { timezone: "UTC" } }),
      profiles.prepare({ Name: "site", Params: { timezone: "Europe/Paris" } }),
    ],
    params: [params.prepare({ Name: "root-hash", Schema: { type: "string", default: "$6$default" } })],
    prefs: [prefs],
    // n2 has no Address: it holds one by DHCP lease (files of a machine go to its addresses only).
    leases: [{ Addr: N2_LEASE, Token: MAC2, State: "ACK", ExpireTime: "2999-01-01T00:00:00Z", Via: "", Strategy: "MAC", Hostname: "" }],
  });
  const core = new BootCore({ data, log, httpPort: 8091, apiPort: 8092, tokens });
  return { data, core, n1, n2 };
}

const facts = (mac: string, over: Partial<ClientFacts> = {}): ClientFacts => ({
  mac,
  arch: 0,
  userClass: "",
  vendorClass: "",
  uuid: "",
  relay: "",
  clientAddress: "",
  serverAddress: SERVER,
  ...over,
});
/** Requests from n1's Address, and from n2's leased address. */
const http: FileFacts = { protocol: "http", remoteAddress: "198.51.100.7", serverAddress: SERVER };
const fromN2: FileFacts = { ...http, remoteAddress: N2_LEASE };

async function text(core: BootCore, path: string, f: FileFacts = http): Promise<string | undefined> {
  const file = await core.get(path, f);
  return file === undefined ? undefined : new Response(file.read()).text();
}

describe("the DHCP decision", () => {
  test("loaders by architecture and user class", () => {
    const { core } = fixture();
    const answer = (mac: string, o: Partial<ClientFacts>) => core.dhcpBoot(facts(mac, o));
    // A classic PXE ROM without option 93 still says PXEClient; a plain OS DHCP client gets nothing.
    expect(answer(MAC2, { arch: undefined, vendorClass: "PXEClient:Arch:00000:UNDI:002001" })).toEqual({ nextServer: SERVER, bootFile: "undionly.kpxe", httpClient: false, ipxe: false });
    expect(answer(MAC2, { arch: undefined })).toBeUndefined();
    expect(answer(MAC2, { arch: undefined, vendorClass: "udhcp 1.35.0" })).toBeUndefined();
    expect(answer(MAC2, { arch: 0 })?.bootFile).toBe("undionly.kpxe");
    expect(answer(MAC2, { arch: 7 })?.bootFile).toBe("ipxe.efi");
    expect(answer(MAC2, { arch: 9 })?.bootFile).toBe("ipxe.efi");
    expect(answer(MAC2, { arch: 11 })).toEqual({ nextServer: SERVER, bootFile: "grubnetaa64.efi", httpClient: false, ipxe: false });
    // arm64 HTTP boot is not answered (Debian's GRUB cannot fetch anything over HTTP): AAVMF then tries PXE.
    expect(answer(MAC2, { arch: 19, vendorClass: "HTTPClient:Arch:00019:UNDI:003000" })).toBeUndefined();
    expect(answer(MAC2, { arch: 16 })).toEqual({ nextServer: SERVER, bootFile: "http://198.51.100.1:8091/ipxe.efi", httpClient: true, ipxe: false });
    expect(answer(MAC2, { arch: 42 })).toBeUndefined();
    // iPXE is asked first, whatever the firmware below it.
    expect(answer(MAC2, { arch: 7, userClass: "iPXE" })).toEqual({ nextServer: SERVER, bootFile: "http://198.51.100.1:8091/default.ipxe", httpClient: false, ipxe: true });
    expect(answer(MAC2, { userClass: "iPXE", serverAddress: "203.0.113.1" })?.bootFile).toBe("http://203.0.113.1:8091/default.ipxe");
  });

  test("BootEnv.Loaders overrides per architecture (machine's env)", () => {
    const { core } = fixture();
    expect(core.dhcpBoot(facts(MAC1, { arch: 7 }))?.bootFile).toBe("custom/ipxe.efi");
    expect(core.dhcpBoot(facts(MAC1, { arch: 16 }))?.bootFile).toBe("http://198.51.100.1:8091/custom/ipxe.efi");
    expect(core.dhcpBoot(facts(MAC1, { arch: 0 }))?.bootFile).toBe("undionly.kpxe"); // 386 not overridden
  });

  test("decision table: known, known without env, unknown, ignore, missing env", () => {
    const { core, data, n2 } = fixture();
    const plan = (mac: string) => decide({ asks: "script", mac, loader: "iPXE" }, data);
    expect(plan(MAC1.toUpperCase())).toMatchObject({ kind: "boot", machine: { Name: "n1" }, envName: "rocky", env: { Name: "rocky" } });
    expect(plan(MAC2)).toMatchObject({ kind: "boot", machine: { Name: "n2" }, envName: "local" }); // BootEnv "" -> defaultBootEnv
    expect(plan(UNKNOWN)).toMatchObject({ kind: "boot", machine: undefined, envName: "discovery", env: { Name: "discovery" } });

    data.set("prefs", "prefs", { unknownBootEnv: "ignore" });
    expect(plan(UNKNOWN)).toMatchObject({ kind: "exit", reason: "ignored", machine: undefined, envName: "ignore" });
    // Ignored unknown machines still get a loader: the iPXE script sends them to local disk.
    expect(core.dhcpBoot(facts(UNKNOWN))?.bootFile).toBe("undionly.kpxe");

    data.set("machines", String(n2.Uuid), { ...n2, BootEnv: "gone" });
    expect(core.dhcpBoot(facts(MAC2))).toBeUndefined();
    data.set("prefs", "prefs", { unknownBootEnv: "nonexistent" });
    expect(core.dhcpBoot(facts(UNKNOWN))).toBeUndefined();
  });
});

describe("grub/grub.cfg dispatch (arm64 GRUB)", () => {
  test("grub/grub.cfg sources the per-MAC config from GRUB's own prefix and MAC; an env path cannot take it", async () => {
    const { core } = fixture();
    const script = (await text(core, "grub/grub.cfg", { protocol: "tftp", remoteAddress: "198.51.100.9", serverAddress: SERVER }))!;
    expect(script).toContain("source ${prefix}/boot/${net_default_mac}.cfg\n");
    expect(script).toContain("\nexit\n");
    expect(script).not.toContain("not the GRUB dispatcher");
  });

  test("unknown machine: the unknownBootEnv's grub template (a fresh registration token); known machine without one: exit, saying why", async () => {
    const { core, data } = fixture();
    tokensIssued.length = 0;
    expect(await text(core, "grub/boot/52:54:00:99:99:99.cfg")).toBe(
      "linux /discovery/arm64/vmlinuz socle.token=rtok-600 socle.url=http://198.51.100.1:8091 BOOTIF=01-${net_default_mac}\nboot\n",
    );
    expect(tokensIssued).toEqual(["registration 600"]);
    // n1 boots rocky, which has no grub template.
    expect(await text(core, "grub/boot/52-54-00-00-00-01.cfg")).toBe(`echo 'Socle: boot environment "rocky" has no GRUB template; leaving network boot'\nsleep 2\nexit\n`);
  });

  test("paths that are not per-MAC configs are not the dispatcher's", async () => {
    const { core } = fixture();
    expect(await text(core, "grub/boot/nope.cfg")).toBeUndefined();
    expect(await text(core, "grub/boot/52:54:00:99:99:99.cfg.bak")).toBeUndefined();
    expect(await text(core, "grub/arm64-efi/command.lst")).toBeUndefined();
  });
});

describe("default.ipxe dispatch", () => {
  test("default.ipxe chains to the per-MAC script on the address the client reached", async () => {
    const { core } = fixture();
    const script = (await text(core, "default.ipxe", { ...http, serverAddress: "203.0.113.1" }))!;
    expect(script.startsWith("#!ipxe\n")).toBe(true);
    expect(script).toContain("chain --autofree http://203.0.113.1:8091/boot/${netX/mac:hexhyp}.ipxe || goto failed");
    // The env template rendering to default.ipxe does not replace the dispatcher.
    expect(script).not.toContain("not the dispatcher");
  });

  test("known machine: its env's iPXE template; unknown: the unknownBootEnv's", async () => {
    const { core } = fixture();
    expect(await text(core, "boot/52-54-00-00-00-01.ipxe")).toBe(
      "#!ipxe\nkernel http://198.51.100.1:8091/rocky/vmlinuz inst.ks=http://198.51.100.1:8091/machines/00000000-0000-0000-0000-000000000001/ks.cfg\nboot\n",
    );
    expect(await text(core, "boot/52:54:00:00:00:02.ipxe", fromN2)).toBe("#!ipxe\necho local n2\nexit\n");
    tokensIssued.length = 0;
    expect(await text(core, "boot/525400999999.ipxe")).toBe("#!ipxe\nkernel http://198.51.100.1:8091/discovery/vmlinuz socle.token=rtok-600 socle.url=http://198.51.100.1:8091\nboot\n");
    expect(tokensIssued).toEqual(["registration 600"]);
  });

  test("ignore: without an ignore env, unknown machines exit to local boot; with one, its script", async () => {
    const { core, data } = fixture({ unknownBootEnv: "ignore" });
    const s = (await text(core, "boot/52-54-00-99-99-99.ipxe"))!;
    expect(s).toMatch(/^#!ipxe\necho Socle: unknown machine 52:54:00:99:99:99 is ignored.*\nexit\n$/);
    data.set("bootenvs", "ignore", bootenvs.prepare({ Name: "ignore", Templates: [{ Name: "ipxe", Path: "ignore.ipxe", Contents: "#!ipxe\nsanboot --drive 0x80 || exit\n" }] }));
    expect(await text(core, "boot/52-54-00-99-99-99.ipxe")).toBe("#!ipxe\nsanboot --drive 0x80 || exit\n");
    // Known machines are not affected by the unknownBootEnv pref.
    expect(await text(core, "boot/52-54-00-00-00-02.ipxe", fromN2)).toBe("#!ipxe\necho local n2\nexit\n");
  });

  test("an env without an iPXE template, or a missing env: an exit script saying why", async () => {
    const { core, data, n2 } = fixture();
    data.set("bootenvs", "bare", bootenvs.prepare({ Name: "bare" }));
    data.set("machines", String(n2.Uuid), { ...n2, BootEnv: "bare" });
    expect(await text(core, "boot/52-54-00-00-00-02.ipxe", fromN2)).toContain('boot environment "bare" has no iPXE template');
    data.set("machines", String(n2.Uuid), { ...n2, BootEnv: "gone" });
    expect(await text(core, "boot/52-54-00-00-00-02.ipxe", fromN2)).toContain('boot environment "gone" of machine "n2" does not exist');
  });
});

describe("the path index", () => {
  test("rendered paths of every machine's env and of the unknown env", async () => {
    const { core } = fixture();
    expect(await core.paths()).toEqual([
      { path: "52:54:00:00:00:01.ipxe", machine: "00000000-0000-0000-0000-000000000001", env: "rocky", template: "ipxe" },
      { path: "52:54:00:00:00:02.ipxe", machine: "00000000-0000-0000-0000-000000000002", env: "local", template: "ipxe" },
      { path: "discovery.ipxe", machine: undefined, env: "discovery", template: "ipxe" },
      { path: "grub/discovery.cfg", machine: undefined, env: "discovery", template: "grub" },
      { path: "machines/00000000-0000-0000-0000-000000000001/ks.cfg", machine: "00000000-0000-0000-0000-000000000001", env: "rocky", template: "kickstart" },
      { path: "pxelinux.cfg/01-52-54-00-00-00-01", machine: "00000000-0000-0000-0000-000000000001", env: "rocky", template: "pxelinux" },
    ]);
  });

  test("follows changes of a machine, its env and the prefs", async () => {
    const { core, data, n1 } = fixture();
    data.set("machines", String(n1.Uuid), { ...n1, HardwareAddrs: ["52:54:00:00:00:aa"] });
    let paths = (await core.paths()).map((p) => p.path);
    expect(paths).toContain("52:54:00:00:00:aa.ipxe");
    expect(paths).not.toContain("52:54:00:00:00:01.ipxe");

    const rocky = data.bootEnv("rocky")!;
    const changed = (rocky.Templates as Array<Record<string, string>>).map((t) => (t.Name === "kickstart" ? { ...t, Path: "ks/<%= it.Machine.Name %>.cfg" } : t));
    data.set("bootenvs", "rocky", { ...rocky, Templates: changed });
    paths = (await core.paths()).map((p) => p.path);
    expect(paths).toContain("ks/n1.cfg");
    expect(paths).not.toContain("machines/00000000-0000-0000-0000-000000000001/ks.cfg");
    expect(await text(core, "ks/n1.cfg")).toContain("ignoredisk --only-use=vda");

    data.set("machines", String(n1.Uuid), undefined);
    expect((await core.paths()).some((p) => p.machine === n1.Uuid)).toBe(false);
    expect(await text(core, "ks/n1.cfg")).toBeUndefined();

    data.set("prefs", "prefs", { unknownBootEnv: "local" });
    expect((await core.paths()).some((p) => p.path === "discovery.ipxe")).toBe(false);
  });

  test("two machines rendering one path: the smaller Uuid is served, deterministically", async () => {
    const { core, data, n1, n2 } = fixture();
    data.set("bootenvs", "fixed", bootenvs.prepare({ Name: "fixed", Templates: [{ Name: "f", Path: "same.txt", Contents: "<%= it.Machine.Name %>" }] }));
    data.set("machines", String(n2.Uuid), { ...n2, BootEnv: "fixed" });
    data.set("machines", String(n1.Uuid), { ...n1, BootEnv: "fixed" });
    expect(await text(core, "same.txt")).toBe("n1");
    data.set("machines", String(n1.Uuid), undefined);
    expect(await text(core, "same.txt", fromN2)).toBe("n2");
  });
});

describe("rendered files", () => {
  test("a template's Path is indexed as a request for it is normalised (files/paths.ts); one that no request could name is not", async () => {
    const { core, data } = fixture();
    const rocky = data.bootEnv("rocky")!;
    const extra = [
      { Name: "messy", Path: " /ks//<%= it.Machine.Name %>/./a.cfg\n", Contents: "messy" },
      { Name: "windows", Path: "win\\<%= it.Machine.Name %>.ini", Contents: "win" },
      { Name: "climbs", Path: "../<%= it.Machine.Name %>.cfg", Contents: "out" },
      { Name: "control", Path: "a\tb.cfg", Contents: "tab" },
    ];
    data.set("bootenvs", "rocky", { ...rocky, Templates: [...(rocky.Templates as object[]), ...extra] });
    const paths = (await core.paths()).map((p) => p.path);
    expect(paths).toContain("ks/n1/a.cfg");
    expect(paths).toContain("win/n1.ini");
    expect(paths.some((p) => p.includes("..") || p.includes("\t"))).toBe(false);
    expect(await text(core, "ks/n1/a.cfg")).toBe("messy");
    expect(await text(core, "win/n1.ini")).toBe("win");
  });

  test("a kickstart with includes, parameters from each layer, Range reads", async () => {
    const { core } = fixture();
    const ks = await text(core, "machines/00000000-0000-0000-0000-000000000001/ks.cfg");
    expect(ks).toBe("# n1\nignoredisk --only-use=vda\ntimezone Europe/Paris\nrootpw $6$default\nreboot\n");
    const file = (await core.get("machines/00000000-0000-0000-0000-000000000001/ks.cfg", http))!;
    expect(file.size).toBe(Buffer.byteLength(ks!));
    expect(file.contentType).toBe("text/plain; charset=utf-8");
    expect(file.etag).toMatch(/^"r[0-9a-z]+-[0-9a-z]+"$/);
    expect(await new Response(file.read(2, 4)).text()).toBe("n1");
    expect(await core.get("nope.txt", http)).toBeUndefined();
  });

  test("a missing parameter is a 422 naming it and the template line; nothing is served", async () => {
    const { core, data } = fixture();
    data.set("profiles", "site", profiles.prepare({ Name: "site" }));
    data.set("profiles", "global", profiles.prepare({ Name: "global" }));
    const err = await core.get("machines/00000000-0000-0000-0000-000000000001/ks.cfg", http).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(SocleError);
    expect((err as SocleError).code).toBe(422);
    expect((err as SocleError).messages).toEqual([
      'template "rocky-ks.tmpl" line 2 -> template "ks-disk" line 2: parameter "timezone" is not set for machine "n1" (looked in the machine, its profiles, the global profile and the Param\'s default)',
    ]);
  });

  test("RequiredParams of the env are checked before rendering", async () => {
    const { core, data, n1 } = fixture();
    data.set("machines", String(n1.Uuid), { ...n1, Params: {} });
    const err = (await core.get("pxelinux.cfg/01-52-54-00-00-00-01", http).catch((e: unknown) => e)) as SocleError;
    expect(err.messages).toEqual(['bootenv "rocky" requires parameter "root-disk", which is not set for machine "n1"']);
  });

  test("GenerateToken: a machine token for known machines with knownTokenTimeout", async () => {
    const { core, data } = fixture({ unknownBootEnv: "discovery", knownTokenTimeout: "900" });
    data.set("templates", "rocky-ipxe.tmpl", templates.prepare({ ID: "rocky-ipxe.tmpl", Contents: "token=<%= it.GenerateToken() %>" }));
    expect(await text(core, "boot/52-54-00-00-00-01.ipxe")).toBe("token=mtok-0000-900");
  });
});

describe("files of a known machine go to that machine only", () => {
  const KS = "machines/00000000-0000-0000-0000-000000000001/ks.cfg";
  const from = (remoteAddress: string, protocol: FileFacts["protocol"] = "http"): FileFacts => ({ protocol, remoteAddress, serverAddress: SERVER });
  const logged = () => {
    const lines: string[] = [];
    return { lines, log: createLogger({ level: "debug", sink: (l) => lines.push(l) }) };
  };

  test("n1's kickstart, iPXE, GRUB and pxelinux files: from its Address only; refused before rendering, no token issued", async () => {
    const { core, data } = fixture();
    data.set("templates", "rocky-ipxe.tmpl", templates.prepare({ ID: "rocky-ipxe.tmpl", Contents: "token=<%= it.GenerateToken() %>" }));
    expect(await text(core, KS, from("198.51.100.7"))).toContain("rootpw $6$default");
    expect(await text(core, "boot/52-54-00-00-00-01.ipxe", from("198.51.100.7"))).toBe("token=mtok-0000-3600");
    tokensIssued.length = 0;
    for (const path of [KS, "boot/52-54-00-00-00-01.ipxe", "boot/525400000001.ipxe", "grub/boot/52:54:00:00:00:01.cfg", "52:54:00:00:00:01.ipxe"]) {
      expect(await core.get(path, from("198.51.100.9"))).toBeUndefined();
    }
    expect(await core.get("pxelinux.cfg/01-52-54-00-00-00-01", from("198.51.100.9", "tftp"))).toBeUndefined();
    expect(await text(core, "pxelinux.cfg/01-52-54-00-00-00-01", from("198.51.100.7", "tftp"))).toBe("DEFAULT rocky\n");
    expect(tokensIssued).toEqual([]);
    // An IPv4 client of a dual-stack listener shows as ::ffff:a.b.c.d.
    expect(await text(core, KS, from("::ffff:198.51.100.7"))).toContain("# n1");
  });

  test("a refused file is not rendered: its template error does not reach a stranger", async () => {
    const { core, data } = fixture();
    data.set("profiles", "site", profiles.prepare({ Name: "site" }));
    data.set("profiles", "global", profiles.prepare({ Name: "global" }));
    expect(await core.get(KS, from("198.51.100.9"))).toBeUndefined();
    expect(await core.get(KS, from("198.51.100.7")).catch((e: unknown) => e)).toBeInstanceOf(SocleError);
  });

  test("leases: an active lease of one of its MACs (relayed or not) counts; an expired or declined one does not", async () => {
    const { core, data } = fixture();
    const lease = (Addr: string, State: string, ExpireTime: string, Via = "") => ({ Addr, Token: MAC2, State, ExpireTime, Via, Strategy: "MAC", Hostname: "" });
    const n2Script = "boot/52-54-00-00-00-02.ipxe";
    expect(await text(core, n2Script, from(N2_LEASE))).toBe("#!ipxe\necho local n2\nexit\n");
    data.set("leases", "203.0.113.40", lease("203.0.113.40", "ACK", "2999-01-01T00:00:00Z", "203.0.113.1"));
    expect(await text(core, n2Script, from("203.0.113.40"))).toBe("#!ipxe\necho local n2\nexit\n");
    data.set("leases", N2_LEASE, lease(N2_LEASE, "ACK", "2000-01-01T00:00:00Z"));
    expect(await core.get(n2Script, from(N2_LEASE))).toBeUndefined();
    data.set("leases", N2_LEASE, lease(N2_LEASE, "DECLINE", "2999-01-01T00:00:00Z"));
    expect(await core.get(n2Script, from(N2_LEASE))).toBeUndefined();
    // n1's lease is not n2's: one machine's address does not open another's files.
    expect(await core.get(n2Script, from("198.51.100.7"))).toBeUndefined();
    expect(data.addressesOf(data.machine("00000000-0000-0000-0000-000000000002")!)).toEqual(["203.0.113.40"]);
  });

  test("the Address follows the machine object", async () => {
    const { core, data, n1 } = fixture();
    data.set("machines", String(n1.Uuid), { ...n1, Address: "198.51.100.70" });
    expect(await core.get(KS, from("198.51.100.7"))).toBeUndefined();
    expect(await text(core, KS, from("198.51.100.70"))).toContain("# n1");
  });

  test("files of unknown machines and the dispatchers are anyone's", async () => {
    const { core } = fixture();
    const stranger = from("192.0.2.99");
    expect(await text(core, "boot/52-54-00-99-99-99.ipxe", stranger)).toContain("socle.token=rtok-600");
    expect(await text(core, "grub/boot/52:54:00:99:99:99.cfg", stranger)).toContain("socle.token=rtok-600");
    expect(await text(core, "discovery.ipxe", stranger)).toContain("#!ipxe");
    expect(await text(core, "default.ipxe", stranger)).toContain("chain --autofree");
    expect(await text(core, "grub/grub.cfg", stranger)).toContain("source ${prefix}/boot/${net_default_mac}.cfg");
    expect(await core.machineOf("discovery.ipxe")).toBeUndefined();
    expect(await core.machineOf("nope.txt")).toBeUndefined();
    expect((await core.machineOf(KS))?.Name).toBe("n1");
    expect((await core.machineOf("grub/boot/52-54-00-00-00-02.cfg"))?.Name).toBe("n2");
  });

  test("bindMachineFiles false: served to any address", async () => {
    const { core, data } = fixture({ unknownBootEnv: "discovery", bindMachineFiles: "false" });
    expect(await text(core, KS, from("192.0.2.99"))).toContain("# n1");
    data.set("prefs", "prefs", { unknownBootEnv: "discovery" }); // back to the default: bound
    expect(await core.get(KS, from("192.0.2.99"))).toBeUndefined();
  });

  test("one warning per refused source a minute, naming the path, the source and the machine's addresses", async () => {
    const { lines, log } = logged();
    const { core } = fixture(undefined, log);
    for (let i = 0; i < 5; i++) await core.get(KS, from("198.51.100.9"));
    await core.get("boot/52-54-00-00-00-02.ipxe", from("198.51.100.9", "tftp"));
    await core.get("boot/52-54-00-00-00-02.ipxe", from("198.51.100.10", "tftp"));
    await core.get(KS, from("198.51.100.7")); // n1 itself: no warning
    const refused = lines.filter((l) => l.includes("refused"));
    expect(refused.length).toBe(2);
    expect(refused[0]).toContain("WARN");
    expect(refused[0]).toContain(`path=${KS} remote=198.51.100.9 machine=00000000-0000-0000-0000-000000000001 name=n1 expected=198.51.100.7 `);
    expect(refused[0]).toContain("bindMachineFiles=false");
    expect(refused[1]).toContain("TFTP: ");
    expect(refused[1]).toContain(`path=boot/52-54-00-00-00-02.ipxe remote=198.51.100.10 machine=00000000-0000-0000-0000-000000000002 name=n2 expected=${N2_LEASE} `);
  });
});

describe("preview", () => {
  test("the preview is not bound to an address (an operator's API call)", async () => {
    const { core, n1 } = fixture();
    expect((await core.preview({ machine: n1, path: "machines/00000000-0000-0000-0000-000000000001/ks.cfg", serverAddress: "192.0.2.1", tokens })).Output).toContain("rootpw $6$default");
    expect((await core.preview({ path: "boot/52-54-00-00-00-01.ipxe", serverAddress: "192.0.2.1", tokens })).Output).toContain("inst.ks=");
  });

  test("Params lists each parameter used with its layer", async () => {
    const { core, n1 } = fixture();
    const r = await core.preview({ machine: n1, template: "kickstart", serverAddress: SERVER, tokens });
    expect(r.Output).toContain("timezone Europe/Paris");
    expect(r.Params).toEqual([
      { Name: "root-disk", Value: "vda", Source: "machine" },
      { Name: "root-hash", Value: "$6$default", Source: "default" },
      { Name: "timezone", Value: "Europe/Paris", Source: "profile:site" },
    ]);
    const g = await core.preview({ contents: "<%= it.param('timezone') %>", serverAddress: SERVER, tokens });
    expect(g).toEqual({ Output: "UTC", Params: [{ Name: "timezone", Value: "UTC", Source: "global" }] });
  });

  test("by Path, by Template ID, by Contents; errors name what is wrong", async () => {
    const { core, n1 } = fixture();
    expect((await core.preview({ machine: n1, path: "/pxelinux.cfg/01-52-54-00-00-00-01", serverAddress: SERVER, tokens })).Output).toBe("DEFAULT rocky\n");
    expect((await core.preview({ machine: n1, template: "ks-disk", serverAddress: SERVER, tokens })).Output).toContain("vda");
    expect((await core.preview({ path: "default.ipxe", serverAddress: "203.0.113.9", tokens })).Output).toContain("http://203.0.113.9:8091/boot/");
    const msg = async (fn: () => unknown) => {
      try {
        await fn();
      } catch (e) {
        return (e as SocleError).messages.join("; ");
      }
      return "no error";
    };
    expect(await msg(() => core.preview({ machine: n1, path: "x", template: "y", serverAddress: SERVER, tokens }))).toBe("exactly one of Template, Contents and Path must be given, got template and path");
    expect(await msg(() => core.preview({ machine: n1, path: "x", serverAddress: SERVER, tokens }))).toMatch(/^Path: no file "x" for machine "n1" in bootenv "rocky"; its paths: 52:54:00:00:00:01.ipxe, /);
    expect(await msg(() => core.preview({ machine: n1, template: "zzz", serverAddress: SERVER, tokens }))).toContain('Template: template "zzz" not found');
    expect(await msg(() => core.preview({ env: "nope", contents: "", serverAddress: SERVER, tokens }))).toBe('BootEnv: bootenv "nope" does not exist');
    expect(await msg(() => core.preview({ contents: "a\nb <%= it.param('nope') %>", serverAddress: SERVER, tokens }))).toBe(
      'template "Contents" line 2: parameter "nope" is not set for unknown machines (bootenv "discovery") (looked in the global profile and the Param\'s default)',
    );
    expect(await msg(() => core.preview({ contents: "a\n<% } %>", serverAddress: SERVER, tokens }))).toMatch(/^template "Contents" line 2: JavaScript syntax error/);
  });
});

describe("Secure params", () => {
  const cipher = new ParamCipher(ParamCipher.generateKey());
  const UUID = "00000000-0000-0000-0000-000000000001";
  const ks = `machines/${UUID}/ks.cfg`;
  /** n1's root-hash (a Secure param) sealed on the machine; the site profile holds a sealed value too. */
  function secureFixture(withCipher = true) {
    const { data, n1 } = fixture();
    data.set("params", "root-hash", params.prepare({ Name: "root-hash", Secure: true, Schema: { type: "string" } }));
    const machine = { ...n1, Params: { "root-disk": "vda", "root-hash": cipher.seal({ type: "machines", key: UUID }, "root-hash", "$6$machine-secret") } };
    data.set("machines", UUID, machine);
    data.set("profiles", "site", profiles.prepare({ Name: "site", Params: { timezone: "Europe/Paris", "root-hash": { [ENVELOPE_FIELD]: "v1:broken:broken" } } }));
    const core = new BootCore({ data, log: nullLogger, httpPort: 8091, apiPort: 8092, tokens, ...(withCipher ? { cipher } : {}) });
    return { core, machine, data };
  }

  test("the machine's file holds the value in clear; a shadowed value is never opened", async () => {
    const { core } = secureFixture();
    // site's root-hash would not open, but the machine's own value wins, so it is never opened.
    expect(await text(core, ks)).toContain("rootpw $6$machine-secret");
    core.close();
  });

  test("a preview shows secure values only where the caller may see them; the template gets the marker", async () => {
    const { core, machine } = secureFixture();
    const hidden = await core.preview({ machine, template: "kickstart", serverAddress: SERVER, tokens, reveal: () => false });
    expect(hidden.Output).toContain("rootpw [secure]");
    expect(JSON.stringify(hidden)).not.toContain("machine-secret");
    expect(hidden.Params).toContainEqual({ Name: "root-hash", Value: "[secure]", Source: "machine" });
    expect(hidden.Params).toContainEqual({ Name: "timezone", Value: "Europe/Paris", Source: "profile:site" });
    // getSecure on another object does not reveal the machine's value.
    const other = await core.preview({ machine, template: "kickstart", serverAddress: SERVER, tokens, reveal: (o) => o.type === "profiles" });
    expect(other.Output).toContain("rootpw [secure]");
    const shown = await core.preview({ machine, template: "kickstart", serverAddress: SERVER, tokens, reveal: (o) => o.type === "machines" && o.key === UUID });
    expect(shown.Output).toContain("rootpw $6$machine-secret");
    expect(shown.Params).toContainEqual({ Name: "root-hash", Value: "$6$machine-secret", Source: "machine" });
    // The same by Path.
    expect((await core.preview({ machine, path: ks, serverAddress: SERVER, tokens, reveal: () => false })).Output).toContain("rootpw [secure]");
    core.close();
  });

  test("a path never holds a secure value: paths render with the marker", async () => {
    const { core, machine, data } = secureFixture();
    data.set("bootenvs", "secret-path", bootenvs.prepare({ Name: "secret-path", Templates: [{ Name: "f", Path: "<%= it.Machine.Path %>/<%= it.param('root-hash') %>.txt", Contents: "x" }] }));
    data.set("machines", UUID, { ...machine, BootEnv: "secret-path" });
    const paths = (await core.paths()).map((p) => p.path);
    expect(paths).toContain(`machines/${UUID}/[secure].txt`);
    expect(JSON.stringify(paths)).not.toContain("machine-secret");
    core.close();
  });

  test("a Secure param's value still in clear (written before it was Secure) is hidden in a preview too", async () => {
    const { core, machine } = secureFixture();
    const clear = { ...machine, Params: { ...machine.Params, "root-hash": "$6$stored-in-clear" } };
    const r = await core.preview({ machine: clear, template: "kickstart", serverAddress: SERVER, tokens, reveal: () => false });
    expect(r.Output).toContain("rootpw [secure]");
    core.close();
  });

  test("a value that does not open, or no key, fails the render naming the param: never a file without it", async () => {
    const { core: keyless } = secureFixture(false);
    await expect(keyless.renderFile(ks, SERVER)).rejects.toThrow(`secure parameter "root-hash" of machine "${UUID}" cannot be decrypted: this server has no secure params key`);
    keyless.close();
    const { core, machine } = secureFixture();
    const moved = { ...machine, Uuid: "00000000-0000-0000-0000-0000000000ff" };
    await expect(core.preview({ machine: moved, template: "kickstart", serverAddress: SERVER, tokens })).rejects.toThrow("sealed with another key, or for another object or parameter");
    core.close();
  });
});

describe("the template registry follows changes", () => {
  test("templates and inline templates are replaced and removed", async () => {
    const { core, data } = fixture();
    data.set("templates", "ks-disk", templates.prepare({ ID: "ks-disk", Contents: "disk=<%= it.param('root-disk') %>\n" }));
    expect(await text(core, "machines/00000000-0000-0000-0000-000000000001/ks.cfg")).toBe("# n1\ndisk=vda\nreboot\n");
    data.set("templates", "ks-disk", undefined);
    const err = (await core.get("machines/00000000-0000-0000-0000-000000000001/ks.cfg", http).catch((e: unknown) => e)) as SocleError;
    expect(err.messages[0]).toBe('template "rocky-ks.tmpl" line 2: template "ks-disk" not found');
    expect(core.engine.has("rocky/pxelinux")).toBe(true);
    data.set("bootenvs", "rocky", undefined);
    expect(core.engine.has("rocky/pxelinux")).toBe(false);
    core.close();
  });
});
