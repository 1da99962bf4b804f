// In-process DORA throughput of the DHCP handler over the real file store (no sockets):
// separates Socle's own per-exchange cost from the network and from perfdhcp.
//   bun test/bench/dora-inprocess.ts [exchanges=20000] [concurrency=64] [options=none|plain|fields]
// options: the subnet's configured options; "plain" sends four fixed values (routers, DNS, host
// name, domain), "fields" the same with the host name and domain built from request fields
// ("node-{{macHex}}", "{{subnet}}.example"), expanded for every reply.

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FileStore } from "../../src/store/file-store.ts";
import { createStoreDhcpBackend } from "../../src/adapters/dhcp-backend.ts";
import { createDhcpHandler } from "../../src/dhcp/handler.ts";
import { newPacket, formatPacket, parsePacket } from "../../src/dhcp/packet.ts";
import { MessageType } from "../../src/dhcp/message-type.ts";
import { modelFor } from "../../src/model/registry.ts";
import { nullLogger } from "../../src/log/logger.ts";
import type { DhcpContext } from "../../src/dhcp/handler-types.ts";

const total = Number(process.argv[2] ?? 20_000);
const concurrency = Number(process.argv[3] ?? 64);
const mode = process.argv[4] ?? "none";
if (!["none", "plain", "fields"].includes(mode)) throw new Error(`options must be none, plain or fields, got "${mode}"`);
const fields = mode === "fields";
const options =
  mode === "none"
    ? []
    : [
        { Code: 3, Value: "198.18.0.1" },
        { Code: 6, Value: "198.18.0.1,198.18.0.2" },
        { Code: 12, Value: fields ? "node-{{macHex}}" : "node" },
        { Code: 15, Value: fields ? "{{subnet}}.example" : "bench.example" },
      ];
const dir = await mkdtemp(join(tmpdir(), "socle-dora-"));
const store = new FileStore({ dir });
await store.open();
// Synthetic records only: 198.18.0.0/15 is the benchmarking range; nothing is sent anywhere.
await store.put("subnets", "bench", modelFor("subnets")!.prepare({ Name: "bench", Subnet: "198.18.0.0/15", ActiveStart: "198.18.0.10", ActiveEnd: "198.19.255.250", Options: options }));
const backend = createStoreDhcpBackend(store, nullLogger);
const handler = createDhcpHandler({ backend, booter: { dhcpBoot: () => undefined }, log: nullLogger });
const ctx = (): DhcpContext => ({ iface: "bench0", serverAddress: "198.18.0.1", ifaceCidr: "198.18.0.0/15", localPort: 67, from: { address: "0.0.0.0", port: 68 }, now: Date.now() });

function request(i: number, type: MessageType, extra?: (p: ReturnType<typeof newPacket>) => void): Uint8Array {
  const mac = new Uint8Array([0x02, 0, (i >> 16) & 255, (i >> 8) & 255, i & 255, 1]);
  const p = newPacket({ xid: i, chaddr: mac });
  p.options.setMessageType(type).setParameterList([1, 3, 6, 12, 15, 51, 54]);
  extra?.(p);
  return formatPacket(p);
}

let next = 0;
let done = 0;
const t0 = performance.now();
async function client(): Promise<void> {
  for (;;) {
    const i = next++;
    if (i >= total) return;
    const offer = await handler(parsePacket(request(i, MessageType.DHCPDISCOVER)), ctx());
    if (!offer) throw new Error(`no offer for client ${i}`);
    formatPacket(offer.packet);
    const addr = offer.packet.yiaddr;
    const ack = await handler(parsePacket(request(i, MessageType.DHCPREQUEST, (p) => p.options.setRequestedIp(addr).setServerId("198.18.0.1"))), ctx());
    if (!ack) throw new Error(`no ack for client ${i}`);
    if (fields && i === 0 && ack.packet.options.getHostName() !== "node-020000000001") throw new Error(`host name option: ${ack.packet.options.getHostName()}`);
    formatPacket(ack.packet);
    done++;
  }
}
await Promise.all(Array.from({ length: concurrency }, client));
const secs = (performance.now() - t0) / 1000;
console.log(`${done} DORA exchanges in ${secs.toFixed(2)} s: ${(done / secs).toFixed(0)}/s (options ${mode}, concurrency ${concurrency}, leases persisted: ${store.count("leases")})`);
await store.close();
await rm(dir, { recursive: true, force: true });
