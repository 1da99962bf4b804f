// Pins finding 5 of the machine-trust issue: "DHCP option values run code in the server. Subnet
// and Reservation Options[].Value are compiled as Eta templates. A user who may write subnets, but
// holds no template claim, runs arbitrary JavaScript as root (<%= process.pid %> was evaluated)."
//
// Over the real HTTPS API of a whole Socle (in this process, so that "nothing evaluated" can be
// checked on a global the code would set): a user whose only claims are on subnets and
// reservations writes option values with template code; each write is refused with 422 naming
// the option and quoting the value, and nothing is stored or run. Option values name request
// fields instead ({{macHex}}), and an unknown field is refused naming it. A subnet stored with
// code before this change (put straight into the store, as an old data directory holds it) is
// served by the real DHCP handler without running it: that option is left out, with a log line.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createStoreDhcpBackend } from "../../src/adapters/dhcp-backend.ts";
import { createDhcpHandler } from "../../src/dhcp/handler.ts";
import type { DhcpContext } from "../../src/dhcp/net/handler-types.ts";
import { MessageType } from "../../src/dhcp/codec/message-type.ts";
import { newPacket } from "../../src/dhcp/codec/packet.ts";
import { createLogger } from "../../src/log/logger.ts";
import { modelFor } from "../../src/model/registry.ts";
import { basic, startTestSocle, type TestSocle } from "../helpers/socle.ts";

const PWNED = "__socleOptionCodeRan";
const g = globalThis as Record<string, unknown>;
let s: TestSocle;
const netops = basic("netops", "netops-password-1");

const must = async (method: string, path: string, body: unknown) => {
  const r = await s.call(method, path, { body });
  if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
};

const subnet = (Name: string, cidr: string, Options: Array<{ Code: number; Value: string }>) => ({
  Name,
  Subnet: `${cidr}.0/24`,
  ActiveStart: `${cidr}.10`,
  ActiveEnd: `${cidr}.20`,
  Options,
});

beforeAll(async () => {
  delete g[PWNED];
  s = await startTestSocle();
  await must("POST", "/api/v3/roles", {
    Name: "network",
    Claims: [
      { Scope: "subnets", Action: "*", Specific: "*" },
      { Scope: "reservations", Action: "*", Specific: "*" },
    ],
  });
  await must("POST", "/api/v3/users", { Name: "netops", Password: "netops-password-1", Roles: ["network"] });
});
afterAll(async () => {
  delete g[PWNED];
  await s?.stop();
});

describe("option values are not code", () => {
  test("the user may write subnets but holds no template claim", async () => {
    expect((await s.call("POST", "/api/v3/templates", { auth: netops, body: { ID: "x.tmpl", Contents: "x" } })).status).toBe(403);
    expect((await s.call("POST", "/api/v3/subnets", { auth: netops, body: subnet("plain", "198.51.100", [{ Code: 3, Value: "198.51.100.1" }]) })).status).toBe(201);
  });

  test("<%= process.pid %> in a subnet option: 422 naming the option and the value; nothing stored, nothing run", async () => {
    const code = `<%= process.pid %><% globalThis.${PWNED} = process.pid %>`;
    const r = await s.call("POST", "/api/v3/subnets", { auth: netops, body: subnet("lab", "198.51.101", [{ Code: 3, Value: "198.51.101.1" }, { Code: 12, Value: code }]) });
    expect(r.status).toBe(422);
    expect(r.body.Messages).toEqual([
      `Options[1].Value: ${JSON.stringify(code)} is template code (Eta "<%"), which option values do not run; write request fields as {{field}} (known: mac, macHex, hostname, address, ciaddr, giaddr, serverAddress, subnet, arch, userClass, vendorClass, uuid, options.<code>)`,
    ]);
    expect(JSON.stringify(r.body)).not.toContain(`"${process.pid}"`);
    expect((await s.call("GET", "/api/v3/subnets/lab")).status).toBe(404);
    expect(g[PWNED]).toBeUndefined();
  });

  test("the same through PUT, PATCH and a reservation", async () => {
    const code = "<%= process.pid %>";
    const plain = await must("GET", "/api/v3/subnets/plain", undefined);
    const put = await s.call("PUT", "/api/v3/subnets/plain", { auth: netops, body: { ...plain, Options: [{ Code: 15, Value: code }] } });
    expect(put.status).toBe(422);
    expect(put.body.Messages[0]).toStartWith('Options[0].Value: "<%= process.pid %>" is template code');
    const patch = await s.call("PATCH", "/api/v3/subnets/plain", { auth: netops, type: "application/json-patch+json", body: [{ op: "add", path: "/Options/-", value: { Code: 15, Value: code } }] });
    expect(patch.status).toBe(422);
    expect(patch.body.Messages[0]).toStartWith('Options[1].Value: "<%= process.pid %>" is template code');
    const res = await s.call("POST", "/api/v3/reservations", { auth: netops, body: { Addr: "198.51.100.50", Token: "52:54:00:05:00:01", Options: [{ Code: 12, Value: code }] } });
    expect(res.status).toBe(422);
    expect(res.body.Messages[0]).toStartWith('Options[0].Value: "<%= process.pid %>" is template code');
    expect((await must("GET", "/api/v3/subnets/plain", undefined)).Options).toEqual([{ Code: 3, Value: "198.51.100.1" }]);
  });

  test("request fields by name: {{macHex}} is stored; an unknown field is 422 naming it", async () => {
    const ok = await s.call("POST", "/api/v3/subnets", { auth: netops, body: subnet("named", "198.51.102", [{ Code: 12, Value: "node-{{macHex}}" }]) });
    expect(ok.status).toBe(201);
    expect(ok.body.Options).toEqual([{ Code: 12, Value: "node-{{macHex}}" }]);
    const bad = await s.call("POST", "/api/v3/subnets", { auth: netops, body: subnet("bad", "198.51.103", [{ Code: 12, Value: "{{process.pid}}" }]) });
    expect(bad.status).toBe(422);
    expect(bad.body.Messages[0]).toStartWith('Options[0].Value: "{{process.pid}}" names unknown field "process.pid"; known: mac, macHex,');
  });

  test("a subnet stored with code before this change is served without running it", async () => {
    const code = `<% globalThis.${PWNED} = process.pid %>x`;
    const old = modelFor("subnets")!.prepare(subnet("legacy", "198.51.104", [{ Code: 3, Value: "198.51.104.1" }]));
    await s.socle.store.put("subnets", "legacy", { ...old, Options: [{ Code: 3, Value: "198.51.104.1" }, { Code: 12, Value: code }] });
    const lines: string[] = [];
    const log = createLogger({ level: "debug", sink: (l) => lines.push(l) });
    const backend = createStoreDhcpBackend(s.socle.store, log);
    try {
      const handler = createDhcpHandler({ backend, booter: { dhcpBoot: () => undefined }, log });
      const p = newPacket({ xid: 5, chaddr: Uint8Array.of(0x52, 0x54, 0, 5, 0, 2) });
      p.options.setMessageType(MessageType.DHCPDISCOVER).setParameterList([1, 3, 12]);
      const ctx: DhcpContext = { iface: "lo", serverAddress: "198.51.104.1", ifaceCidr: "198.51.104.0/24", localPort: 67, from: { address: "0.0.0.0", port: 68 }, now: Date.now() };
      const offer = await handler(p, ctx);
      expect(offer?.packet.options.getRouters()).toEqual(["198.51.104.1"]);
      expect(offer?.packet.options.has(12)).toBe(false);
      expect(g[PWNED]).toBeUndefined();
      expect(lines.some((l) => l.includes("Eta template code, which is not run any more") && l.includes("code=12") && l.includes("subnet=legacy"))).toBe(true);
    } finally {
      backend.close();
    }
  });
});
