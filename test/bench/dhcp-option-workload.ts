// The workload of the DHCP option-value benchmark (dora-inprocess.ts), shared with the test that
// checks the old and new renderers put the same bytes on the wire for it
// (legacy-option-values.test.ts), so the figures compare like with like.
//
// A subnet on 198.18.0.0/15 (the benchmarking range; nothing is sent anywhere) with no options,
// four plain ones (routers, DNS, host name, domain), or the same four with the host name and
// domain built from request fields. "placeholders" spells those as today ({{field}}); "eta" as
// before 7c4ee34, when they were Eta templates over `it` (which had no macHex: the MAC's hex
// digits were written as it.mac.replaceAll).

import { buildReply, configuredOptions } from "../../src/dhcp/reply.ts";
import { MessageType } from "../../src/dhcp/codec/message-type.ts";
import { newPacket, formatPacket, macString, type DhcpPacket } from "../../src/dhcp/codec/packet.ts";
import { templateData, type OptionRenderer, type OptionTemplateData } from "../../src/dhcp/option-templates.ts";
import type { SubnetConfig } from "../../src/dhcp/leases/backend.ts";
import type { DhcpContext, DhcpReply } from "../../src/dhcp/net/handler-types.ts";
import type { Scope } from "../../src/dhcp/leases/scope.ts";
import { modelFor } from "../../src/model/registry.ts";
import type { ModelObject } from "../../src/model/object.ts";

export const OPTION_MODES = ["none", "plain", "fields"] as const;
export type OptionMode = (typeof OPTION_MODES)[number];
export type OptionSyntax = "placeholders" | "eta";

export const SERVER_ADDRESS = "198.18.0.1";
export const SUBNET_NAME = "bench";
/** Pool 198.18.0.10 - 198.19.255.250. */
export const POOL_SIZE = 131_057;

const FIELD_VALUES: Record<OptionSyntax, { hostName: string; domain: string }> = {
  placeholders: { hostName: "node-{{macHex}}", domain: "{{subnet}}.example" },
  eta: { hostName: 'node-<%= it.mac.replaceAll(":", "") %>', domain: "<%= it.subnet %>.example" },
};

export function benchOptions(mode: OptionMode, syntax: OptionSyntax): { Code: number; Value: string }[] {
  if (mode === "none") return [];
  const f = FIELD_VALUES[syntax];
  return [
    { Code: 3, Value: SERVER_ADDRESS },
    { Code: 6, Value: "198.18.0.1,198.18.0.2" },
    { Code: 12, Value: mode === "fields" ? f.hostName : "node" },
    { Code: 15, Value: mode === "fields" ? f.domain : "bench.example" },
  ];
}

/**
 * The subnet record as the store holds it. Today's schema refuses Eta values (422) where the old
 * one took any string, so the record is prepared with today's spelling and its option values then
 * replaced, which is what a store written before 7c4ee34 holds.
 */
export function benchSubnet(mode: OptionMode, syntax: OptionSyntax): ModelObject {
  const prepared = modelFor("subnets")!.prepare({
    Name: SUBNET_NAME,
    Subnet: "198.18.0.0/15",
    ActiveStart: "198.18.0.10",
    ActiveEnd: "198.19.255.250",
    Options: benchOptions(mode, "placeholders"),
  });
  return { ...prepared, Options: benchOptions(mode, syntax) };
}

export function benchSubnetConfig(mode: OptionMode, syntax: OptionSyntax): SubnetConfig {
  return benchSubnet(mode, syntax) as unknown as SubnetConfig;
}

/** Client i's MAC is 02:00:ii:ii:ii:01. */
export function benchRequest(i: number, type: MessageType, extra?: (p: DhcpPacket) => void): Uint8Array {
  const mac = new Uint8Array([0x02, 0, (i >> 16) & 255, (i >> 8) & 255, i & 255, 1]);
  const p = newPacket({ xid: i, chaddr: mac });
  p.options.setMessageType(type).setParameterList([1, 3, 6, 12, 15, 51, 54]);
  extra?.(p);
  return formatPacket(p);
}

/** What option 12 of client i's reply says, or undefined when the mode sends none. */
export function expectedHostName(mode: OptionMode, i: number): string | undefined {
  if (mode === "none") return undefined;
  if (mode === "plain") return "node";
  const mac = [0x02, 0, (i >> 16) & 255, (i >> 8) & 255, i & 255, 1];
  return `node-${mac.map((b) => b.toString(16).padStart(2, "0")).join("")}`;
}

export function benchContext(): DhcpContext {
  return { iface: "bench0", serverAddress: SERVER_ADDRESS, ifaceCidr: "198.18.0.0/15", localPort: 67, from: { address: "0.0.0.0", port: 68 }, now: Date.now() };
}

/** The address client i is offered in a fresh pool (the reply-level loop does not run the lease engine). */
export function poolAddress(i: number): string {
  const n = (198 << 24) + (18 << 16) + 10 + i;
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

/** The request view the handler gives the option values of one reply (made once, when first asked). */
function lazyTemplateData(req: DhcpPacket, mac: string, yiaddr: string, ctx: DhcpContext, scope: Scope): () => OptionTemplateData {
  let data: OptionTemplateData | undefined;
  return () =>
    (data ??= templateData(req, {
      mac,
      address: yiaddr,
      serverAddress: ctx.serverAddress,
      subnet: scope.subnet.Name,
      arch: undefined,
      userClass: "",
      vendorClass: "",
      uuid: "",
    }));
}

/**
 * The option values of one reply and nothing else: what buildReply does with the subnet's options
 * (one renderer.encode per configured value, over one request view), without the filters, which
 * let all four of this workload through, and without building the packet.
 */
export function benchOptionValues(req: DhcpPacket, ctx: DhcpContext, scope: Scope, renderer: OptionRenderer, yiaddr: string): (Uint8Array | undefined)[] {
  const mac = macString(req.chaddr, req.htype, req.hlen);
  const data = lazyTemplateData(req, mac, yiaddr, ctx, scope);
  return scope.subnet.Options.map((o) => renderer.encode(o.Code, o.Value, data, mac));
}

/**
 * A DHCPOFFER or DHCPACK to `req`, built as the handler's Request.spec() builds it (the request
 * view made lazily, once per reply, on the first value that needs it), without the lease engine
 * and the boot decision (the benchmark's booter answers nothing).
 */
export function benchReply(
  type: MessageType.DHCPOFFER | MessageType.DHCPACK,
  req: DhcpPacket,
  ctx: DhcpContext,
  scope: Scope,
  renderer: OptionRenderer,
  yiaddr: string,
): DhcpReply {
  const mac = macString(req.chaddr, req.htype, req.hlen);
  const reply = {
    type,
    req,
    ctx,
    serverId: ctx.serverAddress,
    scope,
    yiaddr,
    leaseSeconds: scope.subnet.ActiveLeaseTime,
    reservation: undefined,
    boot: undefined,
    proxy: undefined,
  };
  const data = lazyTemplateData(req, mac, yiaddr, ctx, scope);
  const options = new Map(configuredOptions(reply).map(({ code, value }) => [code, renderer.encode(code, value, data, mac)] as const));
  return buildReply({ ...reply, options });
}
