// sockaddr_in encoding and the FFI sendto path against a real receiving socket on 127.0.0.1.

import { expect, test } from "bun:test";
import { loadSendto, peerSender, sockaddrIn } from "./fast-send.ts";

test("sockaddrIn: family in host order, port big-endian, address, zero padding", () => {
  const sa = sockaddrIn("198.51.100.7", 1059)!;
  expect(sa.length).toBe(16);
  expect(new Uint16Array(sa.buffer, 0, 1)[0]).toBe(2);
  expect([...sa.subarray(2, 8)]).toEqual([0x04, 0x23, 198, 51, 100, 7]);
  expect([...sa.subarray(8)]).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
  expect(sockaddrIn("::1", 69)).toBeUndefined();
  expect(sockaddrIn("256.1.1.1", 69)).toBeUndefined();
  expect(sockaddrIn("198.51.100.1", 0)).toBeUndefined();
  expect(sockaddrIn("198.51.100.1", 65536)).toBeUndefined();
});

async function receiver() {
  const got: { data: number[]; port: number }[] = [];
  const sock = await Bun.udpSocket({ hostname: "127.0.0.1", binaryType: "uint8array", socket: { data: (_s, d, port) => void got.push({ data: [...d], port }) } });
  return { sock, got };
}

async function until(cond: () => boolean) {
  for (let i = 0; i < 200 && !cond(); i++) await Bun.sleep(5);
}

test("packets to the peer go out through sendto on the socket's descriptor, from its port", async () => {
  expect(await loadSendto()).not.toBeNull();
  const peer = await receiver();
  const other = await receiver();
  const fallbackCalls: number[] = [];
  const out = await Bun.udpSocket({ hostname: "127.0.0.1", binaryType: "uint8array" });
  const fd = (out as unknown as { fd?: number }).fd;
  expect(typeof fd).toBe("number");
  const send = peerSender(fd, "127.0.0.1", peer.sock.port, (pkt, port, address) => {
    fallbackCalls.push(port);
    out.send(pkt, port, address);
  });
  const buf = Uint8Array.of(0, 3, 0, 1, 9, 8, 7);
  send(buf, peer.sock.port, "127.0.0.1");
  buf[6] = 6; // the bytes were sent synchronously: a reused buffer is safe
  send(buf.subarray(0, 6), peer.sock.port, "127.0.0.1");
  send(Uint8Array.of(0, 5, 0, 5, 0), other.sock.port, "127.0.0.1"); // not the peer: Bun's send
  await until(() => peer.got.length === 2 && other.got.length === 1);
  expect(peer.got).toEqual([
    { data: [0, 3, 0, 1, 9, 8, 7], port: out.port },
    { data: [0, 3, 0, 1, 9, 8], port: out.port },
  ]);
  expect(other.got).toEqual([{ data: [0, 5, 0, 5, 0], port: out.port }]);
  expect(fallbackCalls).toEqual([other.sock.port]);
  for (const s of [peer.sock, other.sock, out]) s.close();
});

test("without a descriptor or for IPv6 peers the fallback is used as is", async () => {
  await loadSendto();
  const fallback = () => {};
  expect(peerSender(undefined, "127.0.0.1", 1000, fallback)).toBe(fallback);
  expect(peerSender(5, "::1", 1000, fallback)).toBe(fallback);
});

test("the sender keeps the peer's address alive: after collections, DATA still goes to the peer", async () => {
  expect(await loadSendto()).not.toBeNull();
  const peer = await receiver();
  const other = await receiver();
  const out = await Bun.udpSocket({ hostname: "127.0.0.1", binaryType: "uint8array" });
  const fd = (out as unknown as { fd?: number }).fd;
  const send = peerSender(fd, "127.0.0.1", peer.sock.port, () => {});
  for (let i = 0; i < 5; i++) Bun.gc(true);
  // Freed 16-byte buffers are reused first: fill them with another socket's address, as a new
  // transfer's sockaddr (or a spoofer's recvfrom result) would.
  const spray: (Uint8Array | undefined)[] = [];
  for (let i = 0; i < 50_000; i++) spray.push(sockaddrIn("127.0.0.1", other.sock.port));
  send(Uint8Array.of(0, 3, 0, 1), peer.sock.port, "127.0.0.1");
  await until(() => peer.got.length + other.got.length > 0);
  await Bun.sleep(20);
  expect(other.got.length).toBe(0);
  expect(peer.got.length).toBe(1);
  expect(spray.length).toBe(50_000);
  for (const s of [peer.sock, other.sock, out]) s.close();
});
