// The shipped workflow content (bootenvs/operations): every task, stage and workflow loads and is
// Available, the workflows expand as documented, and the task scripts render for a machine into
// shell that parses (sh -n); the inventory script runs for real here (dry run: it prints the JSON
// it would store) and its JSON parses.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { startTestSocle, type TestSocle } from "./helpers/socle.ts";

let s: TestSocle;
let uuid = "";
const SH = Bun.which("sh");

beforeAll(async () => {
  s = await startTestSocle();
  const r = await s.call("POST", "/api/v3/machines", {
    body: {
      Name: "ops-1",
      HardwareAddrs: ["52:54:00:0e:00:01"],
      BootEnv: "discovery",
      Params: { "image-url": "images/o'neil.img.gz", "image-sha256": "A".repeat(64), "operating-system-disk": "/dev/vda" },
    },
  });
  expect(r.status).toBe(201);
  uuid = r.body.Uuid;
});
afterAll(() => s?.stop());

test("shipped tasks, stages and workflows are there and Available", async () => {
  for (const [type, names] of [
    ["tasks", ["inventory", "image-deploy"]],
    ["stages", ["discover", "inventory", "image-deploy", "complete", "local", "none"]],
    ["workflows", ["discover-and-inventory", "image-deploy"]],
  ] as const) {
    for (const n of names) {
      const r = await s.call("GET", `/api/v3/${type}/${n}`);
      expect(`${type}/${n} ${r.status} ${JSON.stringify(r.body.Errors)}`).toBe(`${type}/${n} 200 []`);
      expect(r.body.Available).toBe(true);
      expect(r.body.ReadOnly).toBe(true);
    }
  }
});

test("setting the image-deploy workflow expands it as documented", async () => {
  const r = await s.call("PATCH", `/api/v3/machines/${uuid}`, { type: "application/json-patch+json", body: [{ op: "replace", path: "/Workflow", value: "image-deploy" }] });
  expect(r.status).toBe(200);
  expect(r.body.Tasks).toEqual(["stage:discover", "bootenv:discovery", "stage:inventory", "inventory", "stage:image-deploy", "image-deploy", "stage:local", "bootenv:local", "stage:complete"]);
  expect(r.body.CurrentTask).toBe(-1);
  const ro = await s.call("PATCH", `/api/v3/machines/${uuid}`, { type: "application/json-patch+json", body: [{ op: "replace", path: "/BootEnv", value: "local" }] });
  expect(ro.status).toBe(422);
  expect(JSON.stringify(ro.body.Messages)).toContain('BootEnv: read-only while Workflow \\"image-deploy\\" is set');
});

async function rendered(template: string): Promise<string> {
  const r = await s.call("POST", "/api/v3/render", { body: { Machine: uuid, Template: template } });
  expect(r.status).toBe(200);
  return String(r.body.Output);
}

test.skipIf(!SH)("the task scripts render into shell that parses; quotes in params stay quoted", async () => {
  for (const t of ["socle-inventory.sh.tmpl", "socle-image-deploy.sh.tmpl"]) {
    const out = await rendered(t);
    const p = Bun.spawn([SH!, "-n", "-c", out], { stderr: "pipe" });
    expect(`${t}: ${await p.exited} ${await new Response(p.stderr).text()}`).toBe(`${t}: 0 `);
  }
  const deploy = await rendered("socle-image-deploy.sh.tmpl");
  expect(deploy).toMatch(/^URL='http:\/\/127\.0\.0\.1:\d+\/images\/o'\\''neil\.img\.gz'$/m);
  expect(deploy).toContain(`WANT='${"a".repeat(64)}'`);
  expect(deploy).toContain("DISK='/dev/vda'");
});

test.skipIf(!SH)("the inventory script collects this host's facts as JSON (dry run)", async () => {
  const p = Bun.spawn([SH!, "-c", await rendered("socle-inventory.sh.tmpl")], { env: { ...process.env, SOCLE_DRY_RUN: "1" }, stdout: "pipe", stderr: "pipe" });
  expect(await p.exited).toBe(0);
  const line = (await new Response(p.stdout).text()).split("\n").find((l) => l.startsWith("inventory: {"))!;
  const inv = JSON.parse(line.slice("inventory: ".length));
  expect(inv.CPUs).toBeGreaterThan(0);
  expect(inv.MemoryBytes).toBeGreaterThan(0);
  expect(Array.isArray(inv.Disks) && Array.isArray(inv.Nics)).toBe(true);
  expect(inv.InventoriedAt).toMatch(/^\d{4}-\d\d-\d\dT/);
});
