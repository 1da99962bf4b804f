// The NoCloud seed against the real peer: Debian's cloud-init (22.4 in bookworm). Every rendered
// user-data (also the variant nested in Ubuntu's autoinstall, and vendor-data) goes through
// `cloud-init schema --config-file`. cloud-init 22.4 has no `--schema-type network-config`, so
// network-config goes through cloud-init's own v2 parser instead (cloudinit.net.network_state,
// with skip_broken=False so that a device it cannot read is an error rather than a warning) and
// its ENI renderer, in memory. Every file is also read
// back with PyYAML, cloud-init's YAML 1.1 reader, and must mean what Socle meant (a MAC of
// digits unquoted would be a base-60 integer there). Nothing here starts cloud-init's services or
// runs its stages: `schema` and the Python library only read.
// Skips, saying why, without cloud-init (.ci/run installs it through test/lab/install-deps.sh --extras).

import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fullProfile, identityProfile, minimalProfile, staticProfile } from "../src/osconfig/fixtures.test-util.ts";
import { autoinstallUserData, cloudConfig, metaData, networkConfig, networkConfigObject, userData, vendorData } from "../src/osconfig/nocloud.ts";
import type { OsProfile } from "../src/osconfig/profile.ts";

const CLOUD_INIT = Bun.which("cloud-init");
/** The interpreter cloud-init runs under (its shebang), which has the cloudinit package. */
const PYTHON = CLOUD_INIT ? (readFileSync(CLOUD_INIT, "utf8").split("\n")[0]!.match(/^#!\s*(\S+)/)?.[1] ?? "/usr/bin/python3") : undefined;
const why = CLOUD_INIT === null ? "cloud-init is not installed (apt-get install --no-install-recommends cloud-init)" : undefined;
if (why) console.log(`skip nocloud-schema.test.ts: ${why}`);

const PROFILES: Record<string, () => OsProfile> = {
  minimal: minimalProfile,
  "every field": fullProfile,
  "static network + vlan": staticProfile,
  identity: identityProfile,
  "kernel args only": () => ({ ...minimalProfile(), kernelArgs: ["quiet", "console=ttyS0,115200n8"] }),
};

const dir = mkdtempSync(join(tmpdir(), "socle-nocloud-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(cmd: string[]): { code: number; out: string } {
  const p = Bun.spawnSync(cmd, { stdout: "pipe", stderr: "pipe", env: { ...process.env, LANG: "C.UTF-8" } });
  return { code: p.exitCode ?? -1, out: `${p.stdout.toString()}${p.stderr.toString()}` };
}

const PY_NETWORK = `
import json, sys, yaml
from cloudinit.net import eni, network_state
cfg = yaml.safe_load(open(sys.argv[1]))
state = network_state.parse_net_config_data(cfg, skip_broken=False)
print(eni.Renderer({})._render_interfaces(state))
`;
const PY_JSON = "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]).read())))";

/** What PyYAML makes of a file. */
function pyyaml(file: string): unknown {
  const r = run([PYTHON!, "-c", PY_JSON, file]);
  if (r.code !== 0) throw new Error(`PyYAML could not read ${file}: ${r.out}`);
  return JSON.parse(r.out);
}

describe.skipIf(why !== undefined)("NoCloud seed validated by cloud-init", () => {
  test("cloud-init is the expected peer", () => {
    const r = run([CLOUD_INIT!, "--version"]);
    console.log(`nocloud-schema: ${r.out.trim()}`);
    expect(r.code).toBe(0);
  });

  test("the check bites: an invalid cloud-config is refused", () => {
    const f = join(dir, "bad.user-data");
    writeFileSync(f, '#cloud-config\nwrite_files:\n  - content: x\n    permissions: 420\n');
    const r = run([CLOUD_INIT!, "schema", "--config-file", f]);
    expect(r.code).not.toBe(0);
    expect(r.out).toContain("permissions");
  });

  for (const [name, make] of Object.entries(PROFILES)) {
    describe(name, () => {
      const profile = make();
      const base = join(dir, name.replace(/\W+/g, "-"));

      test("user-data passes cloud-init schema and reads back as rendered", () => {
        const f = `${base}.user-data`;
        writeFileSync(f, userData(profile));
        const r = run([CLOUD_INIT!, "schema", "--config-file", f]);
        expect(r.out).toContain("Valid cloud-config");
        expect(r.code).toBe(0);
        expect(pyyaml(f)).toEqual(JSON.parse(JSON.stringify(cloudConfig(profile))));
      });

      test("the cloud-config for autoinstall's user-data key passes cloud-init schema", () => {
        const f = `${base}.autoinstall-user-data`;
        writeFileSync(f, `#cloud-config\n${autoinstallUserData(profile)}`);
        const r = run([CLOUD_INIT!, "schema", "--config-file", f]);
        expect(r.out).toContain("Valid cloud-config");
        expect(r.code).toBe(0);
      });

      test("vendor-data passes cloud-init schema", () => {
        const f = `${base}.vendor-data`;
        writeFileSync(f, vendorData(profile));
        const r = run([CLOUD_INIT!, "schema", "--config-file", f]);
        expect(r.code).toBe(0);
      });

      test("network-config v2 is read by cloud-init's parser without a broken device", () => {
        const f = `${base}.network-config`;
        writeFileSync(f, networkConfig(profile));
        if (profile.network === undefined) {
          expect(pyyaml(f)).toBeNull(); // no config: cloud-init's fallback
          return;
        }
        const r = run([PYTHON!, "-c", PY_NETWORK, f]);
        if (r.code !== 0) console.log(r.out);
        expect(r.code).toBe(0);
        expect(pyyaml(f)).toEqual(networkConfigObject(profile.network));
        for (const address of profile.network?.interfaces.flatMap((i) => i.addresses) ?? []) expect(r.out).toContain(address);
        if (profile.network?.bonds.length) expect(r.out).toContain("bond-mode 802.3ad");
        for (const v of profile.network?.vlans ?? []) expect(r.out).toContain(`vlan_id ${v.id}`);
      });

      test("meta-data reads back with the instance-id and hostname", () => {
        const f = `${base}.meta-data`;
        writeFileSync(f, metaData(profile, { instanceId: "3f1c2a9e-5b7d-4e21-9c11-0a1b2c3d4e5f" }));
        expect(pyyaml(f)).toEqual({ "instance-id": "3f1c2a9e-5b7d-4e21-9c11-0a1b2c3d4e5f", "local-hostname": profile.hostname });
      });
    });
  }
});
