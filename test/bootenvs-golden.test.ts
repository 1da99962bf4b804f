// Golden files for the shipped boot environments: every template of every env in bootenvs/ is
// rendered for one sample machine and compared byte for byte with test/golden/bootenvs/<env>/.
// `UPDATE_GOLDEN=1 bun test test/bootenvs-golden.test.ts` rewrites them; review the diff.
// Rendering goes through the real pieces: the shipped content layer, the template engine
// (src/render), and parameter resolution with the shipped Param defaults (src/model/params).

import { describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, readdirSync, writeFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import YAML from "yaml";
import { agentFacts } from "../src/assets/agent-files.ts";
import { buildContentLayer } from "../src/content/layer.ts";
import { SHIPPED_FILES } from "../src/content/shipped.ts";
import type { ModelObject } from "../src/model/object.ts";
import { lookupParam, resolveParams, validateParamValues } from "../src/model/params.ts";
import { TemplateEngine, envView, machineView, renderContext } from "../src/render/index.ts";
import { checkIgnition } from "../src/osconfig/ignition.ts";

const GOLDEN = join(import.meta.dir, "golden", "bootenvs");
const UPDATE = process.env.UPDATE_GOLDEN === "1";

const PROVISIONER = "http://198.51.100.1:8091";
const API = "https://198.51.100.1:8092";
/** A stand-in for the API certificate's public key pin (it.ApiPin). */
/** A stand-in for the PEM of the API certificate's CA (it.CaCert): the shape, not a real certificate. */
const GOLDEN_CA = "-----BEGIN CERTIFICATE-----\nR29sZGVuQ0FHb2xkZW5DQUdvbGRlbkNBR29sZGVuQ0FHb2xkZW5DQUdvbGRlbkNB\nR29sZGVuQ0E=\n-----END CERTIFICATE-----\n";
const GOLDEN_PIN = "sha256//R29sZGVuUGluR29sZGVuUGluR29sZGVuUGluR29sZGVuUGk=";
const TOKEN = "golden-token.eyJzdWIiOiJnb2xkZW4ifQ.c2lnbmF0dXJl";
/** Stand-ins for it.MachineCert() (the shapes, not a real certificate and key). */
const GOLDEN_MACHINE_CERT = { Cert: "-----BEGIN CERTIFICATE-----\nR29sZGVuTWFjaGluZUNlcnQ=\n-----END CERTIFICATE-----\n", Key: "-----BEGIN PRIVATE KEY-----\nR29sZGVuTWFjaGluZUtleQ==\n-----END PRIVATE KEY-----\n", Ca: GOLDEN_CA };
/** A Talos secrets bundle shaped as `talosctl gen secrets` writes it, with placeholder PEM bodies. */
const pemB64 = (kind: string, body: string) => Buffer.from(`-----BEGIN ${kind}-----\n${Buffer.from(body).toString("base64")}\n-----END ${kind}-----\n`).toString("base64");
const talosPair = (n: string) => `        crt: ${pemB64("CERTIFICATE", `golden ${n} ca`)}\n        key: ${pemB64("EC PRIVATE KEY", `golden ${n} key`)}\n`;
const GOLDEN_TALOS_SECRETS = `cluster:\n    id: R29sZGVuQ2x1c3RlcklkR29sZGVuQ2x1c3Rlcklk\n    secret: R29sZGVuQ2x1c3RlclNlY3JldA==\nsecrets:\n    bootstraptoken: golden.0123456789abcdef\n    secretboxencryptionsecret: R29sZGVuU2VjcmV0Ym94\ntrustdinfo:\n    token: golden.fedcba9876543210\ncerts:\n    etcd:\n${talosPair("etcd")}    k8s:\n${talosPair("k8s")}    k8saggregator:\n${talosPair("k8saggregator")}    k8sserviceaccount:\n        key: ${pemB64("EC PRIVATE KEY", "golden sa key")}\n    os:\n${talosPair("os")}`;
const MACHINE = {
  Uuid: "3f1c2a9e-5b7d-4e21-9c11-0a1b2c3d4e5f",
  Name: "golden",
  Address: "198.51.100.50",
  HardwareAddrs: ["52:54:00:12:34:56"],
  Arch: "amd64",
};

/** The sample machine's own Params: everything some env requires, with awkward characters. */
const SAMPLE_PARAMS: Record<string, unknown> = {
  "provisioner-default-password-hash": "$6$g0ldenSalt$Qm9ndXMgaGFzaCBmb3IgZ29sZGVuIHRlc3RzIG9ubHkgLSBub3QgYSBwYXNzd29yZA",
  "access-keys": {
    admin: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGoldenGoldenGoldenGoldenGoldenGoldenGolden admin@site & ops",
    backup: "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQCgolden backup<1>",
  },
  "esxi-boot-modules": "/jumpstrt.gz --- /useropts.gz --- /features.gz --- /k.b00 --- /uc_intel.b00 --- /s.v00",
  "talos-cluster": { name: "golden", endpoint: "https://198.51.100.10:6443", role: "controlplane", installImage: "ghcr.io/siderolabs/installer:v1.8.3" },
  "talos-secrets": GOLDEN_TALOS_SECRETS,
  "windows-install-share": "\\\\198.51.100.1\\win-install",
  "windows-admin-password": `Gold&<"pass'>`,
  "windows-share-user": "SITE\\deploy",
  "windows-share-password": "share-pass",
};

const layer = buildContentLayer(SHIPPED_FILES);
const objectsOf = (type: string): Map<string, ModelObject> => layer.objects.get(type) ?? new Map();
const bootenvs = [...objectsOf("bootenvs").values()].sort((a, b) => String(a.Name).localeCompare(String(b.Name)));
const params = objectsOf("params");

interface BootTemplate {
  Name: string;
  Path: string;
  ID?: string;
  Contents?: string;
}

function engineFor(): TemplateEngine {
  const engine = new TemplateEngine();
  for (const [id, t] of objectsOf("templates")) engine.set(id, String(t.Contents));
  for (const env of bootenvs) {
    for (const t of env.Templates as BootTemplate[]) if (t.Contents !== undefined) engine.set(`${String(env.Name)}/${t.Name}`, t.Contents);
  }
  return engine;
}

interface Rendered {
  bootParams: string;
  /** Template Name -> rendered path and output. */
  files: Map<string, { path: string; output: string }>;
  /** Every parameter a template asked for (param or ParamExists). */
  used: Set<string>;
}

/** Render every file of `env` for the sample machine (none for OnlyUnknown envs). */
function renderEnv(env: ModelObject, machineParams: Record<string, unknown>): Rendered {
  const engine = engineFor();
  const name = String(env.Name);
  const unknown = env.OnlyUnknown === true;
  const machineObj: ModelObject = { ...MACHINE, BootEnv: name, Params: machineParams, Profiles: [] };
  const resolved = resolveParams({
    machine: unknown ? undefined : machineObj,
    getProfile: (n) => objectsOf("profiles").get(n),
    getParam: (n) => params.get(n),
    global: undefined,
    params: params.values(),
  });
  const used = new Set<string>();
  const machine = unknown ? undefined : machineView({ ...MACHINE, BootEnv: name }, PROVISIONER);
  // eslint-disable-next-line prefer-const
  let ctx: object;
  const view = envView(
    { Name: name, OS: env.OS as { Name: string }, Kernel: String(env.Kernel), Initrds: env.Initrds as string[] },
    PROVISIONER,
    () => engine.renderSource(`${name}/BootParams`, String(env.BootParams), ctx),
  );
  ctx = renderContext({
    machine,
    env: view,
    provisionerAddress: "198.51.100.1",
    provisionerURL: PROVISIONER,
    apiURL: API,
    apiPin: GOLDEN_PIN,
    caCert: GOLDEN_CA,
    param: (n) => {
      used.add(n);
      return lookupParam(resolved, n, unknown ? "an unknown machine" : `machine "golden"`);
    },
    paramExists: (n) => {
      used.add(n);
      return resolved.has(n);
    },
    generateToken: () => TOKEN,
    machineCert: () => GOLDEN_MACHINE_CERT,
    machineCertAvailable: !unknown,
    agent: agentFacts(),
  });
  const files = new Map<string, { path: string; output: string }>();
  for (const t of env.Templates as BootTemplate[]) {
    const path = engine.renderSource(`${name}/${t.Name}.Path`, t.Path, ctx);
    const output = t.ID !== undefined ? engine.render(t.ID, ctx) : engine.render(`${name}/${t.Name}`, ctx);
    files.set(t.Name, { path, output });
  }
  return { bootParams: view.BootParams, files, used };
}

function golden(file: string, actual: string): void {
  const full = join(GOLDEN, file);
  if (UPDATE) {
    mkdirSync(join(full, ".."), { recursive: true });
    writeFileSync(full, actual);
    return;
  }
  if (!existsSync(full)) throw new Error(`golden file ${file} is missing: run UPDATE_GOLDEN=1 bun test test/bootenvs-golden.test.ts`);
  expect(actual).toBe(readFileSync(full, "utf8"));
}

const all = new Map(bootenvs.map((env) => [String(env.Name), renderEnv(env, SAMPLE_PARAMS)]));
const out = (env: string, template: string): string => {
  const f = all.get(env)?.files.get(template);
  if (!f) throw new Error(`no rendered template ${env}/${template}`);
  return f.output;
};

describe("shipped boot environments", () => {
  test("the sample machine's params are valid per their shipped schemas", () => {
    expect(validateParamValues(SAMPLE_PARAMS, (n) => params.get(n))).toEqual([]);
    for (const n of Object.keys(SAMPLE_PARAMS)) expect(params.has(n)).toBe(true);
  });

  test("every env listed in the issue is shipped", () => {
    const names = bootenvs.map((e) => String(e.Name));
    for (const n of ["ignore", "local", "discovery", "debian-12", "ubuntu-24.04", "rocky-9", "alma-9", "flatcar", "fcos", "talos", "linuxkit", "esxi-8", "windows"]) {
      expect(names).toContain(n);
    }
  });

  for (const env of bootenvs) {
    const name = String(env.Name);
    describe(name, () => {
      const r = all.get(name)!;
      const templates = env.Templates as BootTemplate[];

      test("renders every template and its path to the golden files", () => {
        const index = [`BootParams: ${r.bootParams}`, ...templates.map((t) => `${t.Name}: ${r.files.get(t.Name)!.path}`), ""].join("\n");
        golden(`${name}/_env.txt`, index);
        for (const t of templates) golden(`${name}/${t.Name}.txt`, r.files.get(t.Name)!.output);
      });

      test("declares every parameter it uses, and each is a shipped Param", () => {
        const declared = new Set([...(env.RequiredParams as string[]), ...(env.OptionalParams as string[])]);
        expect([...r.used].filter((p) => !declared.has(p)).sort()).toEqual([]);
        for (const p of declared) expect(params.has(p)).toBe(true);
      });

      for (const required of env.RequiredParams as string[]) {
        test(`refuses to render without ${required}, naming it`, () => {
          const rest = { ...SAMPLE_PARAMS };
          delete rest[required];
          expect(() => renderEnv(env, rest)).toThrow(required);
        });
      }

      test("its iPXE template is named ipxe, served at a .ipxe path, and is an iPXE script", () => {
        const ipxe = r.files.get("ipxe");
        expect(ipxe).toBeDefined();
        expect(ipxe!.path.endsWith(".ipxe")).toBe(true);
        expect(ipxe!.output.startsWith("#!ipxe\n")).toBe(true);
      });
    });
  }

  test("no stale golden files: every file under test/golden/bootenvs belongs to a rendered template", () => {
    if (UPDATE || !existsSync(GOLDEN)) return;
    for (const dir of readdirSync(GOLDEN)) {
      const r = all.get(dir);
      expect(r).toBeDefined();
      for (const f of readdirSync(join(GOLDEN, dir))) {
        expect(f === "_env.txt" || r!.files.has(f.replace(/\.txt$/, ""))).toBe(true);
      }
    }
  });
});

describe("rendered content", () => {
  test("every call to the API checks Socle's CA and key pin, none passes --insecure (issue 8)", () => {
    let calls = 0;
    for (const [env, r] of all) {
      for (const [tmpl, f] of r.files) {
        expect(`${env}/${tmpl}: ${f.output}`).not.toContain("--insecure");
        for (const line of f.output.split(/\r?\n|\\n/)) {
          if (!line.includes("/boot-local")) continue;
          calls++;
          expect(line).toMatch(/--cacert (\/etc\/socle\/ca\.pem|X:\\socle-ca\.pem) /);
          expect(line).toContain(`--pinnedpubkey ${env === "windows" ? "" : "'"}${GOLDEN_PIN}`);
        }
      }
    }
    // kickstart (alma, rocky), preseed, user-data, fcos live, flatcar ignition, windows
    expect(calls).toBeGreaterThanOrEqual(7);
  });

  const ESCAPES = /&(amp|lt|gt|quot|#39|#x27|apos);/;

  test("no HTML escaping: &, <, > and quotes reach the files as written", () => {
    for (const [env, r] of all) {
      for (const [tmpl, f] of r.files) if (!(env === "windows" && tmpl === "unattend")) expect(`${env}/${tmpl}: ${f.output}`).not.toMatch(ESCAPES);
    }
    expect(out("debian-12", "preseed")).toContain("admin@site & ops' >>");
    expect(out("rocky-9", "kickstart")).toContain('sshkey --username=root "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQCgolden backup<1>"');
    expect(out("rocky-9", "kickstart")).toContain(`-X POST -H 'Authorization: Bearer golden-token.`);
    expect(out("windows", "install-cmd")).toContain("& goto failed)");
  });

  test("XML is escaped exactly once, by the unattend template itself", () => {
    const xml = out("windows", "unattend");
    expect(xml).toContain("<Value>Gold&amp;&lt;&quot;pass&apos;&gt;</Value>");
    expect(xml).not.toContain("&amp;amp;");
    expect(xml.startsWith('<?xml version="1.0" encoding="utf-8"?>\n')).toBe(true);
  });

  test("kickstart, preseed and user-data keep their line structure", () => {
    const ks = out("rocky-9", "kickstart").split("\n");
    for (const line of ["text", "%packages", "%end", "reboot", "zerombr"]) expect(ks).toContain(line);
    expect(ks.length).toBeGreaterThan(25);
    const preseed = out("debian-12", "preseed").split("\n");
    expect(preseed).toContain("d-i partman/confirm boolean true");
    expect(preseed.filter((l) => l.startsWith("d-i ")).length).toBeGreaterThan(30);
    const userData = out("ubuntu-24.04", "user-data").split("\n");
    expect(userData[0]).toBe("#cloud-config");
    expect(userData).toContain("  version: 1");
  });

  test("YAML outputs parse: user-data, meta-data, Talos machine config", () => {
    const ud = YAML.parse(out("ubuntu-24.04", "user-data"));
    expect(ud.autoinstall.identity.hostname).toBe("golden");
    expect(ud.autoinstall.identity.password).toBe(SAMPLE_PARAMS["provisioner-default-password-hash"]);
    expect(ud.autoinstall.ssh["authorized-keys"]).toEqual(Object.values(SAMPLE_PARAMS["access-keys"] as object));
    expect(ud.autoinstall["late-commands"][0]).toBe(`mkdir -p /etc/socle && printf '%b' '${GOLDEN_CA.trim().replaceAll("\n", "\\n")}\\n' > /etc/socle/ca.pem`);
    // The agent goes into the installed system: a base64 script (no quoting to get wrong); then the
    // switch to local.
    const agentCmd = /^curtin in-target --target=\/target -- sh -c "echo ([A-Za-z0-9+/=]+) \| base64 -d \| sh"$/.exec(ud.autoinstall["late-commands"][1]);
    expect(agentCmd).not.toBeNull();
    const script = atob(agentCmd![1]!);
    // The plain token (the agent trades it at its first start), never a long-lived one.
    expect(script).toContain(`\nRS_TOKEN=${TOKEN}\nRS_BOOTENV=local\n`);
    expect(ud.autoinstall["late-commands"][2]).toContain(`Bearer ${TOKEN}`);
    expect(YAML.parse(out("ubuntu-24.04", "meta-data"))).toEqual({ "instance-id": MACHINE.Uuid, "local-hostname": "golden" });
    // The installed system's cloud-config (OS profile) under autoinstall's user-data key.
    expect(ud.autoinstall["user-data"].hostname).toBe("golden");
    expect(ud.autoinstall["user-data"].write_files.map((f: { path: string }) => f.path)).toEqual(["/etc/socle/ca.pem", "/etc/socle/machine.crt", "/etc/socle/machine.key"]);
    const talos = YAML.parse(out("talos", "config"));
    expect(talos.machine.install.disk).toBe("/dev/sda");
    expect(talos.machine.network.hostname).toBe("golden");
    expect(talos.cluster.controlPlane.endpoint).toBe("https://198.51.100.10:6443");
  });

  test("Ignition outputs are valid JSON with a spec version, keys and hostname", () => {
    for (const [env, tmpl] of [["flatcar", "ignition"], ["flatcar", "ignition-disk"], ["fcos", "config"], ["fcos", "live"]] as const) {
      const cfg = JSON.parse(out(env, tmpl));
      expect(cfg.ignition.version).toMatch(/^3\.\d+\.\d+$/);
    }
    const disk = JSON.parse(out("fcos", "config"));
    expect(disk.passwd.users[0].sshAuthorizedKeys).toEqual(Object.values(SAMPLE_PARAMS["access-keys"] as object));
    expect(disk.storage.files[0]).toMatchObject({ path: "/etc/hostname", contents: { source: "data:,golden" } });
    const live = JSON.parse(out("flatcar", "ignition"));
    expect(live.systemd.units[0].contents).toContain("flatcar-install -d /dev/sda -C stable");
  });

  test("discovery: unknown machine, registration token, API and boot server on the command line", () => {
    const ipxe = out("discovery", "ipxe");
    expect(ipxe).toContain(`kernel ${PROVISIONER}/discovery/amd64/vmlinuz initrd=initrd.img `);
    expect(ipxe).toContain(`initrd ${PROVISIONER}/discovery/amd64/initrd.img`);
    for (const arg of [`socle.api=${API}`, `socle.token=${TOKEN}`, `socle.url=${PROVISIONER}`, "console=ttyS0"]) expect(ipxe).toContain(` ${arg}`);
    expect(ipxe).toContain("unknown machine ${netX/mac}");
  });

  test("installers pass their per-machine config URL on the kernel command line", () => {
    const url = `${PROVISIONER}/machines/${MACHINE.Uuid}`;
    expect(all.get("debian-12")!.bootParams).toContain(`auto=true priority=critical url=${url}/preseed.cfg`);
    expect(all.get("ubuntu-24.04")!.bootParams).toContain(`ds=nocloud;s=${url}/nocloud/ `);
    expect(all.get("rocky-9")!.bootParams).toContain(`inst.ks=${url}/kickstart.ks inst.repo=${PROVISIONER}/rocky-9/install`);
    expect(all.get("flatcar")!.bootParams).toContain(`flatcar.first_boot=1 ignition.config.url=${url}/ignition.json`);
    expect(all.get("fcos")!.bootParams).toContain(`coreos.inst.install_dev=/dev/sda coreos.inst.ignition_url=${url}/config.ign`);
    expect(all.get("talos")!.bootParams).toContain(`talos.platform=metal talos.config=${url}/talos.yaml`);
    expect(out("esxi-8", "boot-cfg")).toContain(`kernelopt=runweasel ks=${url}/ks.cfg`);
    for (const env of ["debian-12", "rocky-9", "alma-9", "ubuntu-24.04", "flatcar", "fcos", "esxi-8", "windows"]) {
      const files = [...all.get(env)!.files.values()];
      expect(files.some((f) => f.path.startsWith(`machines/${MACHINE.Uuid}/`))).toBe(true);
    }
  });

  test("Windows batch and winpeshl files use CRLF line ends throughout", () => {
    for (const tmpl of ["install-cmd", "winpeshl"]) {
      const text = out("windows", tmpl);
      expect(text.endsWith("\r\n")).toBe(true);
      expect(text.replace(/\r\n/g, "")).not.toMatch(/[\r\n]/);
    }
  });

  test("host names are DNS labels even when the machine Name is not", () => {
    const env = objectsOf("bootenvs").get("rocky-9")!;
    const engine = engineFor();
    const ctx = renderContext({
      machine: machineView({ ...MACHINE, Name: "Rack 4 Node_7.example.com", BootEnv: "rocky-9" }, PROVISIONER),
      env: envView({ Name: "rocky-9", OS: env.OS as { Name: string }, Kernel: "", Initrds: [] }, PROVISIONER, () => ""),
      provisionerAddress: "198.51.100.1",
      provisionerURL: PROVISIONER,
      apiURL: API,
      apiPin: GOLDEN_PIN,
      caCert: GOLDEN_CA,
      param: () => undefined,
      paramExists: () => false,
      generateToken: () => TOKEN,
        agent: agentFacts(),
    });
    expect(engine.render("common-hostname.tmpl", ctx)).toBe("rack-4-node-7");
  });
});

describe("Ignition from the OS profile params (osconfig/)", () => {
  const IGNITION = [["flatcar", "ignition"], ["flatcar", "ignition-disk"], ["fcos", "config"], ["fcos", "live"]] as const;
  const OS_PARAMS: Record<string, unknown> = {
    "os-users": [{ name: "ops", groups: ["wheel"], sudo: true, sshAuthorizedKeys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIops ops@site"] }],
    "os-network": {
      interfaces: [{ name: "eno1" }, { name: "eno2", mac: "52:54:00:aa:bb:02" }],
      bonds: [{ name: "bond0", interfaces: ["eno1", "eno2"], mode: "802.3ad", addresses: ["198.51.100.50/24"], gateway4: "198.51.100.1" }],
      vlans: [{ name: "vlan42", id: 42, link: "bond0", dhcp4: true }],
      nameservers: ["198.51.100.53"],
    },
    "os-files": [{ path: "/etc/motd", contents: "golden & <ops>\n", mode: "0644" }],
    "os-units": [{ name: "app.service", contents: "[Service]\nExecStart=/usr/bin/true\n", enabled: true }],
    "os-kernel-args": ["intel_iommu=on"],
    timezone: "Europe/Paris",
    "butane-config": "variant: VARIANT\nversion: VERSION\nstorage:\n  files:\n    - path: /etc/motd\n      mode: 0600\n      contents:\n        inline: from butane\n",
  };
  const withOs = (env: string) => {
    const params = { ...SAMPLE_PARAMS, ...OS_PARAMS };
    params["butane-config"] = String(params["butane-config"]).replace("VARIANT", env).replace("VERSION", env === "fcos" ? "1.5.0" : "1.0.0");
    return renderEnv(bootenvs.find((e) => e.Name === env)!, params);
  };

  test("every shipped Ignition output validates against its spec version", () => {
    for (const [env, tmpl] of IGNITION) {
      const cfg = JSON.parse(out(env, tmpl));
      expect(`${env}/${tmpl}: ${checkIgnition(cfg, cfg.ignition.version).join("; ")}`).toBe(`${env}/${tmpl}: `);
    }
  });

  test("the os-* params and butane-config reach the installed systems' configs, each variant in its network format", () => {
    for (const env of ["fcos", "flatcar"]) {
      const r = withOs(env);
      for (const [e, tmpl] of IGNITION) {
        if (e !== env) continue;
        const cfg = JSON.parse(r.files.get(tmpl)!.output);
        expect(`${env}/${tmpl}: ${checkIgnition(cfg, cfg.ignition.version).join("; ")}`).toBe(`${env}/${tmpl}: `);
        if (tmpl === "live") continue;
        const paths = cfg.storage.files.map((f: { path: string }) => f.path);
        expect(paths).toContain("/etc/sudoers.d/socle-ops");
        expect(paths).toContain(env === "fcos" ? "/etc/NetworkManager/system-connections/bond0.nmconnection" : "/etc/systemd/network/20-bond0.netdev");
        expect(cfg.storage.files.find((f: { path: string }) => f.path === "/etc/motd")).toMatchObject({ mode: 0o600, contents: { source: "data:,from%20butane" } });
        expect(cfg.storage.links).toEqual([{ path: "/etc/localtime", target: "/usr/share/zoneinfo/Europe/Paris", overwrite: true, hard: false }]);
        expect(cfg.kernelArguments).toEqual({ shouldExist: ["intel_iommu=on"] });
        expect(cfg.systemd.units.map((u: { name: string }) => u.name)).toContain("app.service");
      }
    }
  });

  test("a bad os-* value fails the render naming the param; nothing is served", () => {
    const env = bootenvs.find((e) => e.Name === "fcos")!;
    expect(() => renderEnv(env, { ...SAMPLE_PARAMS, "os-network": { interfaces: [{ name: "eth0" }], vlans: [{ name: "v1", id: 1, link: "eth9" }] } })).toThrow(
      'os-network: vlans[0].link: "eth9" is neither an interface nor a bond of this profile',
    );
    expect(() => renderEnv(env, { ...SAMPLE_PARAMS, "butane-config": "variant: fcos\nversion: 1.5.0\nstorage:\n  trees:\n    - local: x\n" })).toThrow("butane-config: storage.trees: not supported");
  });
});
