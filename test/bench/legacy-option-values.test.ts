// The option-value benchmark compares like with like: for its workload, the old Eta values under
// the old renderer and today's {{field}} values under today's put the same bytes on the wire,
// and the old renderer really is the one answering in the handler while it is swapped in.

import { describe, expect, test } from "bun:test";
import { createStoreDhcpBackend } from "../../src/adapters/dhcp-backend.ts";
import { createDhcpHandler } from "../../src/dhcp/handler.ts";
import { MessageType } from "../../src/dhcp/codec/message-type.ts";
import { OptionRenderer } from "../../src/dhcp/option-templates.ts";
import { formatPacket, parsePacket } from "../../src/dhcp/codec/packet.ts";
import { scopeOf } from "../../src/dhcp/leases/scope.ts";
import { createLogger, nullLogger } from "../../src/log/logger.ts";
import { MemoryStore } from "../../src/store/memory-store.ts";
import {
  OPTION_MODES,
  SERVER_ADDRESS,
  SUBNET_NAME,
  benchContext,
  benchOptionValues,
  benchReply,
  benchRequest,
  benchSubnet,
  benchSubnetConfig,
  expectedHostName,
  poolAddress,
  type OptionMode,
  type OptionSyntax,
} from "./dhcp-option-workload.ts";
import { LegacyOptionRenderer, asOptionRenderer, useLegacyOptionValues } from "./legacy-option-values.ts";

const CLIENTS = [0, 1, 255, 4660, 70_000];

function setup(mode: OptionMode, syntax: OptionSyntax) {
  const scope = scopeOf(benchSubnetConfig(mode, syntax))!;
  const renderer = syntax === "eta" ? asOptionRenderer(new LegacyOptionRenderer(nullLogger)) : new OptionRenderer(nullLogger);
  return { scope, renderer };
}

describe("old and new option values, same workload", () => {
  for (const mode of OPTION_MODES) {
    test(`${mode}: the same OFFER and ACK bytes`, () => {
      const old = setup(mode, "eta");
      const now = setup(mode, "placeholders");
      for (const i of CLIENTS) {
        const addr = poolAddress(i);
        const discover = benchRequest(i, MessageType.DHCPDISCOVER);
        const request = benchRequest(i, MessageType.DHCPREQUEST, (p) => p.options.setRequestedIp(addr).setServerId(SERVER_ADDRESS));
        for (const [type, wire] of [[MessageType.DHCPOFFER, discover], [MessageType.DHCPACK, request]] as const) {
          const a = benchReply(type, parsePacket(wire), benchContext(), old.scope, old.renderer, addr);
          const b = benchReply(type, parsePacket(wire), benchContext(), now.scope, now.renderer, addr);
          expect(a.packet.options.getHostName()).toBe(expectedHostName(mode, i));
          expect(formatPacket(a.packet)).toEqual(formatPacket(b.packet));
          expect(benchOptionValues(parsePacket(wire), benchContext(), old.scope, old.renderer, addr)).toEqual(
            benchOptionValues(parsePacket(wire), benchContext(), now.scope, now.renderer, addr),
          );
        }
      }
    });
  }

  test("fields: the workload in each spelling, the domain from the subnet name", () => {
    const eta = benchSubnetConfig("fields", "eta").Options.map((o) => o.Value);
    const placeholders = benchSubnetConfig("fields", "placeholders").Options.map((o) => o.Value);
    expect(eta).toEqual(["198.18.0.1", "198.18.0.1,198.18.0.2", 'node-<%= it.mac.replaceAll(":", "") %>', "<%= it.subnet %>.example"]);
    expect(placeholders).toEqual(["198.18.0.1", "198.18.0.1,198.18.0.2", "node-{{macHex}}", "{{subnet}}.example"]);
    const offer = setup("fields", "placeholders");
    const reply = benchReply(MessageType.DHCPOFFER, parsePacket(benchRequest(0, MessageType.DHCPDISCOVER)), benchContext(), offer.scope, offer.renderer, poolAddress(0));
    expect(reply.packet.options.getDomainName()).toBe(`${SUBNET_NAME}.example`);
  });
});

describe("the old renderer in the handler", () => {
  test("while swapped in, the handler runs the stored Eta values; once restored, it refuses them again", async () => {
    const lines: string[] = [];
    const store = new MemoryStore();
    await store.open();
    await store.put("subnets", SUBNET_NAME, benchSubnet("fields", "eta"));
    const backend = createStoreDhcpBackend(store, nullLogger);
    const handler = createDhcpHandler({ backend, booter: { dhcpBoot: () => undefined }, log: createLogger({ sink: (l) => lines.push(l) }) });
    const offer = (i: number) => handler(parsePacket(benchRequest(i, MessageType.DHCPDISCOVER)), benchContext());

    const restore = useLegacyOptionValues(nullLogger);
    try {
      expect((await offer(0))!.packet.options.getHostName()).toBe(expectedHostName("fields", 0));
      expect((await offer(1))!.packet.options.getHostName()).toBe(expectedHostName("fields", 1));
    } finally {
      restore();
    }
    expect(lines.filter((l) => l.includes("not run any more"))).toEqual([]);
    const after = await offer(2);
    expect(after!.packet.options.has(12)).toBe(false);
    expect(lines.some((l) => l.includes("not run any more"))).toBe(true);
    backend.close();
    await store.close();
  });
});
