import { describe, expect, test } from "bun:test";
import { MessageType } from "./codec/message-type.ts";
import { newPacket } from "./codec/packet.ts";
import { subnetConfig } from "./leases/memory-backend.ts";
import { scopeOf } from "./leases/scope.ts";
import type { ReservationConfig } from "./leases/backend.ts";
import type { DhcpContext } from "./net/handler-types.ts";
import { buildReply, configuredOptions, type ReplySpec } from "./reply.ts";

const ctx: DhcpContext = { iface: "eth1", serverAddress: "198.51.100.1", ifaceCidr: "198.51.100.0/24", localPort: 67, from: { address: "0.0.0.0", port: 68 }, now: 0 };
const subnet = subnetConfig({
  Name: "lab",
  Subnet: "198.51.100.0/24",
  ActiveStart: "198.51.100.10",
  ActiveEnd: "198.51.100.20",
  Options: [
    { Code: 3, Value: "198.51.100.1" },
    { Code: 42, Value: "198.51.100.5" },
    { Code: 54, Value: "203.0.113.9" },
    { Code: 67, Value: "from-subnet.efi" },
    { Code: 58, Value: "100" },
    { Code: 12, Value: "{{.Machine.Address}}" },
  ],
});
const scope = scopeOf(subnet)!;
const reservation: ReservationConfig = { Addr: "198.51.100.11", Token: "02:00:00:00:00:01", Strategy: "MAC", Options: [{ Code: 42, Value: "198.51.100.6" }], NextServer: "", Duration: 0 };
const boot = { nextServer: "198.51.100.1", bootFile: "ipxe.efi", httpClient: false, ipxe: false };

function request(params?: number[]) {
  const req = newPacket({ chaddr: Uint8Array.of(2, 0, 0, 0, 0, 1) });
  req.options.setMessageType(MessageType.DHCPREQUEST);
  if (params) req.options.setParameterList(params);
  return req;
}

const base = { type: MessageType.DHCPACK, scope, reservation: undefined, boot: undefined, leaseSeconds: 3600, proxy: undefined } as const;

describe("configuredOptions chooses before anything is rendered", () => {
  test("subnet then reservation (same code wins), never what the server owns", () => {
    const chosen = configuredOptions({ ...base, req: request(), reservation });
    expect(chosen).toEqual([
      { code: 3, value: "198.51.100.1" },
      { code: 42, value: "198.51.100.6" },
      { code: 67, value: "from-subnet.efi" },
      { code: 58, value: "100" },
      { code: 12, value: "{{.Machine.Address}}" },
    ]);
  });

  test("only what option 55 lists, plus what is always sent; a template not asked for is not chosen", () => {
    const chosen = configuredOptions({ ...base, req: request([1, 42]) });
    expect(chosen.map((o) => o.code)).toEqual([3, 42]); // 3 (routers) is always sent; 12, a template, was not asked for
  });

  test("66/67 are the boot answer's; T1/T2 need a lease; NAKs and proxy replies carry none", () => {
    expect(configuredOptions({ ...base, req: request(), boot }).map((o) => o.code)).not.toContain(67);
    expect(configuredOptions({ ...base, req: request(), leaseSeconds: undefined }).map((o) => o.code)).not.toContain(58);
    expect(configuredOptions({ ...base, req: request(), type: MessageType.DHCPNAK })).toEqual([]);
    expect(configuredOptions({ ...base, req: request(), proxy: { arch: 0, toPort4011: false } })).toEqual([]);
    expect(configuredOptions({ ...base, req: request(), scope: undefined })).toEqual([]);
  });
});

describe("buildReply sets the rendered bytes it is given", () => {
  const spec = (options: Map<number, Uint8Array | undefined>, extra: Partial<ReplySpec> = {}): ReplySpec => ({
    ...base,
    req: request(),
    ctx,
    serverId: "198.51.100.1",
    yiaddr: "198.51.100.11",
    options,
    ...extra,
  });

  test("bytes in the order given; the default mask and broadcast fill in what is not configured", () => {
    const p = buildReply(spec(new Map([[42, Uint8Array.of(198, 51, 100, 6)], [3, Uint8Array.of(198, 51, 100, 1)]]))).packet;
    expect([...p.options.get(42)!]).toEqual([198, 51, 100, 6]);
    expect([...p.options.get(1)!]).toEqual([255, 255, 255, 0]);
    expect([...p.options.get(28)!]).toEqual([198, 51, 100, 255]);
    const codes = p.options.codes();
    expect(codes.indexOf(42)).toBeLessThan(codes.indexOf(3));
  });

  test("a configured option left out (broken value) still keeps the default out", () => {
    const p = buildReply(spec(new Map([[1, undefined]]))).packet;
    expect(p.options.has(1)).toBe(false);
  });

  test("a configured T1 at or past the lease's end is dropped for the computed one", () => {
    const p = buildReply(spec(new Map([[58, Uint8Array.of(0, 0, 0x0e, 0x10)]]), { leaseSeconds: 3600 })).packet;
    expect(p.options.getRenewalTime()).toBe(1800);
  });
});
