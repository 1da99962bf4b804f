import { describe, expect, test } from "bun:test";
import type { DhcpContext } from "./net/handler-types.ts";
import { subnetConfig } from "./leases/memory-backend.ts";
import { newPacket } from "./codec/packet.ts";
import { chooseLink } from "./link-choice.ts";

const ctx: DhcpContext = {
  iface: "eth1",
  serverAddress: "198.51.100.1",
  ifaceCidr: "198.51.100.0/24",
  localPort: 67,
  from: { address: "0.0.0.0", port: 68 },
  now: 0,
};
const wide = subnetConfig({ Name: "wide", Subnet: "198.51.100.0/24", ActiveStart: "198.51.100.10", ActiveEnd: "198.51.100.20" });
const upper = subnetConfig({ Name: "upper", Subnet: "198.51.100.128/25" });
const remote = subnetConfig({ Name: "remote", Subnet: "203.0.113.0/24" });

describe("link choice", () => {
  test("direct clients: the interface network, or our own address for a narrower subnet", () => {
    expect(chooseLink(newPacket(), ctx, [wide, remote]).scope?.subnet.Name).toBe("wide");
    const c = chooseLink(newPacket(), { ...ctx, serverAddress: "198.51.100.129" }, [upper]);
    expect(c.scope?.subnet.Name).toBe("upper");
    expect(c.via).toBe("");
    expect(c.serverId).toBe("198.51.100.129");
  });

  test("relayed: giaddr, link-selection, server-id-override", () => {
    const p = newPacket({ giaddr: "203.0.113.1" });
    expect(chooseLink(p, ctx, [wide, remote])).toMatchObject({ link: "203.0.113.1", via: "203.0.113.1", serverId: "198.51.100.1" });
    p.giaddr = "198.51.100.254";
    p.options.setRelayAgentInfo({ linkSelection: "203.0.113.0", serverIdOverride: "203.0.113.1" });
    const c = chooseLink(p, ctx, [wide, remote]);
    expect(c.scope?.subnet.Name).toBe("remote");
    expect(c.serverId).toBe("203.0.113.1");
    // Option 82 on a packet that did not come through a relay names no link.
    const direct = newPacket();
    direct.options.setRelayAgentInfo({ linkSelection: "203.0.113.0" });
    expect(chooseLink(direct, ctx, [wide, remote]).scope?.subnet.Name).toBe("wide");
  });

  test("a renewal unicast from a relayed client's address is matched by its ciaddr", () => {
    // RENEWING goes straight to the server (no relay), arriving on an interface of another network.
    const renew = newPacket({ ciaddr: "203.0.113.100" });
    const c = chooseLink(renew, { ...ctx, from: { address: "203.0.113.100", port: 68 } }, [wide, remote]);
    expect(c).toMatchObject({ link: "203.0.113.100", via: "" });
    expect(c.scope?.subnet.Name).toBe("remote");
    // A ciaddr that the packet did not come from (a broadcast REBINDING) still goes by interface.
    expect(chooseLink(renew, ctx, [wide, remote]).scope?.subnet.Name).toBe("wide");
  });

  test("a malformed option 82 is reported, not thrown", () => {
    const p = newPacket({ giaddr: "203.0.113.1" });
    p.options.set(82, Uint8Array.of(5, 3, 1));
    const c = chooseLink(p, ctx, [wide, remote]);
    expect(c.relayInfoError).toContain("option 82");
    expect(c.scope?.subnet.Name).toBe("remote");
  });
});
