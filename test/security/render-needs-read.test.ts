// Pins finding 6 of the machine-trust issue: "The render claim bypasses machine read rights. A
// user holding only render can get a machine's rendered kickstart, password hash included, for a
// machine it may not GET."
//
// Over the real HTTPS API of a whole Socle: a known machine boots the shipped rocky-9 env with a
// password hash in its Params. A user whose only claim is render may not GET the machine, and so
// may not render for it either: neither by naming it (Machine, by Uuid or Name:) nor by the
// per-MAC loader path that the preview renders for it. The refusal carries no Uuid the caller did
// not send. With the claim to get that one machine the same render works; unknown machines need
// no machine claim. The password hash is a Secure param: without getSecure on the machine the
// kickstart holds "[secure]" in its place (finding 8, secure-params.test.ts).

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { basic, startTestSocle, type TestSocle } from "../helpers/socle.ts";

const MAC = "52:54:00:56:00:01";
const HASH = "$6$renderSalt$renderTestHashThatMustNotLeak";

let s: TestSocle;
let uuid = "";
const renderer = basic("renderer", "renderer-password-1");
const reader = basic("reader", "reader-password-1");

const must = async (method: string, path: string, body: unknown) => {
  const r = await s.call(method, path, { body });
  if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
};

beforeAll(async () => {
  s = await startTestSocle();
  uuid = (await must("POST", "/api/v3/machines", { Name: "ks1", HardwareAddrs: [MAC], BootEnv: "rocky-9", Params: { "provisioner-default-password-hash": HASH } })).Uuid;
  await must("POST", "/api/v3/roles", { Name: "render-only", Claims: [{ Scope: "render", Action: "render", Specific: "*" }] });
  await must("POST", "/api/v3/roles", { Name: "read-ks1", Claims: [{ Scope: "machines", Action: "get", Specific: uuid }] });
  await must("POST", "/api/v3/users", { Name: "renderer", Password: "renderer-password-1", Roles: ["render-only"] });
  await must("POST", "/api/v3/users", { Name: "reader", Password: "reader-password-1", Roles: ["render-only", "read-ks1"] });
});
afterAll(async () => {
  await s?.stop();
});

describe("render needs read rights on the machine it renders for", () => {
  test("the render-only user may not GET the machine (to it, the machine is not there: 404)", async () => {
    expect((await s.call("GET", `/api/v3/machines/${uuid}`, { auth: renderer })).status).toBe(404);
  });

  test("nor render its kickstart: 403, no password hash", async () => {
    for (const ref of [uuid, "Name:ks1", `HardwareAddrs:${MAC}`]) {
      const r = await s.call("POST", "/api/v3/render", { auth: renderer, body: { Machine: ref, Template: "kickstart" } });
      expect(r.status).toBe(403);
      expect(JSON.stringify(r.body)).not.toContain(HASH);
      expect(r.body.Messages[0]).toContain("rendering for a machine needs the claim to get that machine");
      if (ref !== uuid) expect(JSON.stringify(r.body)).not.toContain(uuid);
    }
    const path = await s.call("POST", "/api/v3/render", { auth: renderer, body: { Machine: "Name:ks1", Path: `machines/${uuid}/kickstart.ks` } });
    expect(path.status).toBe(403);
    expect(JSON.stringify(path.body)).not.toContain(HASH);
  });

  test("nor its per-MAC loader script by Path", async () => {
    for (const p of [`boot/${MAC}.ipxe`, `boot/${MAC.replaceAll(":", "-")}.ipxe`, `/boot/${MAC.toUpperCase()}.ipxe`, `grub/boot/${MAC}.cfg`]) {
      const r = await s.call("POST", "/api/v3/render", { auth: renderer, body: { Path: p } });
      expect(r.status).toBe(403);
      expect(JSON.stringify(r.body)).not.toContain(uuid);
    }
  });

  test("with the claim to get that machine the same renders work; unknown machines need none", async () => {
    const ks = await s.call("POST", "/api/v3/render", { auth: reader, body: { Machine: "Name:ks1", Template: "kickstart" } });
    expect(ks.status).toBe(200);
    expect(ks.body.Output).toContain("rootpw --iscrypted [secure]");
    expect(JSON.stringify(ks.body)).not.toContain(HASH);
    expect((await s.call("POST", "/api/v3/render", { auth: reader, body: { Path: `boot/${MAC}.ipxe` } })).status).toBe(200);
    expect((await s.call("POST", "/api/v3/render", { auth: renderer, body: { Path: "boot/52:54:00:56:00:99.ipxe" } })).status).toBe(200);
  });
});
