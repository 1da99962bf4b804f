import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GARP_FRAME_LENGTH, GratuitousArpError, gratuitousArpFrame, sendGratuitousArp, sockaddrLl, type PacketLibc } from "./arp.ts";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const MAC = "02:00:5e:10:00:0a";

test("request form, byte by byte: broadcast, ARP over Ethernet, sender = target = the address, target MAC zero", () => {
  const f = gratuitousArpFrame(MAC, "198.51.100.10", "request");
  expect(f.length).toBe(GARP_FRAME_LENGTH);
  expect(hex(f)).toBe(
    [
      "ffffffffffff", // Ethernet destination: broadcast
      "02005e10000a", // Ethernet source
      "0806", // EtherType ARP
      "0001", // hardware type Ethernet
      "0800", // protocol type IPv4
      "06", // hardware address length
      "04", // protocol address length
      "0001", // opcode request
      "02005e10000a", // sender MAC
      "c633640a", // sender IP 198.51.100.10
      "000000000000", // target MAC: zero (RFC 5227)
      "c633640a", // target IP = sender IP
    ].join(""),
  );
});

test("reply form: opcode 2 and the target MAC is the sender's (RFC 2002; Linux's arp_is_garp wants it)", () => {
  const f = gratuitousArpFrame(Uint8Array.of(2, 0, 0x5e, 0x10, 0, 0x0a), "203.0.113.7", "reply");
  expect(hex(f.subarray(0, 20))).toBe("ffffffffffff02005e10000a0806000108000604");
  expect(hex(f.subarray(20, 22))).toBe("0002");
  expect(hex(f.subarray(22, 42))).toBe("02005e10000a" + "cb007107" + "02005e10000a" + "cb007107");
});

test("the frame builder names a bad MAC or address", () => {
  expect(() => gratuitousArpFrame("02:00:5e:10:00", "198.51.100.10", "request")).toThrow('MAC "02:00:5e:10:00" is not a 6-byte Ethernet address');
  expect(() => gratuitousArpFrame(MAC, "198.51.100.256", "request")).toThrow('"198.51.100.256" is not an IPv4 address');
});

test("sockaddr_ll: AF_PACKET and ifindex in host order, ETH_P_ARP in network order, 6-byte broadcast", () => {
  const sa = sockaddrLl(7, Uint8Array.of(255, 255, 255, 255, 255, 255));
  expect(sa.length).toBe(20);
  expect(new Uint16Array(sa.buffer, 0, 1)[0]).toBe(17);
  expect(hex(sa.subarray(2, 4))).toBe("0806");
  expect(new Int32Array(sa.buffer, 4, 1)[0]).toBe(7);
  expect(sa[11]).toBe(6);
  expect(hex(sa.subarray(12, 20))).toBe("ffffffffffff0000");
});

// --- sendGratuitousArp against a fake libc and a fake sysfs

const dir = mkdtempSync(join(tmpdir(), "socle-arp-test-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function sysfs(ifaces: Record<string, { ifindex: number; type?: number; address: string }>): string {
  const root = mkdtempSync(join(dir, "sys-"));
  for (const [name, i] of Object.entries(ifaces)) {
    mkdirSync(join(root, name));
    writeFileSync(join(root, name, "ifindex"), `${i.ifindex}\n`);
    writeFileSync(join(root, name, "type"), `${i.type ?? 1}\n`);
    writeFileSync(join(root, name, "address"), `${i.address}\n`);
  }
  return root;
}

interface FakeCalls {
  socket: [number, number, number][];
  sent: { fd: number; frame: string; sockaddr: string }[];
  closed: number[];
}

function fakeLibc(over: Partial<{ socketErrno: number; sendErrno: number; indexes: Record<string, number> }> = {}): { libc: PacketLibc; calls: FakeCalls } {
  const calls: FakeCalls = { socket: [], sent: [], closed: [] };
  let errno = 0;
  const libc: PacketLibc = {
    socket(d, t, p) {
      calls.socket.push([d, t, p]);
      if (over.socketErrno) return (errno = over.socketErrno), -1;
      return 9;
    },
    sendto(fd, frame, sa) {
      if (over.sendErrno) return (errno = over.sendErrno), -1;
      calls.sent.push({ fd, frame: hex(frame), sockaddr: hex(sa) });
      return frame.length;
    },
    close(fd) {
      calls.closed.push(fd);
      return 0;
    },
    ifNameToIndex: (name) => (over.indexes ?? { lan0: 4 })[name] ?? 0,
    errno: () => errno,
  };
  return { libc, calls };
}

describe("sendGratuitousArp", () => {
  const sys = sysfs({ lan0: { ifindex: 4, address: MAC }, lo: { ifindex: 1, type: 772, address: "00:00:00:00:00:00" } });

  test("one request and one reply, broadcast on the interface's ifindex, socket closed", async () => {
    const { libc, calls } = fakeLibc();
    expect(await sendGratuitousArp("lan0", "198.51.100.10", { libc, sysClassNet: sys })).toEqual({ sent: 2 });
    const LE = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;
    expect(calls.socket).toEqual([[17, 3 | 0o2000000, LE ? 0x0608 : 0x0806]]); // htons(ETH_P_ARP)
    expect(calls.sent.map((s) => s.frame)).toEqual([hex(gratuitousArpFrame(MAC, "198.51.100.10", "request")), hex(gratuitousArpFrame(MAC, "198.51.100.10", "reply"))]);
    expect(calls.sent.every((s) => s.fd === 9 && s.sockaddr === hex(sockaddrLl(4, Uint8Array.of(255, 255, 255, 255, 255, 255))))).toBe(true);
    expect(calls.closed).toEqual([9]);
  });

  test("EPERM from socket(AF_PACKET) says CAP_NET_RAW is missing", async () => {
    const { libc } = fakeLibc({ socketErrno: 1 });
    const err = await sendGratuitousArp("lan0", "198.51.100.10", { libc, sysClassNet: sys }).catch((e) => e);
    expect(err).toBeInstanceOf(GratuitousArpError);
    expect(err.reason).toBe("no-cap-net-raw");
    expect(err.message).toBe("sending gratuitous ARP for 198.51.100.10 on lan0 needs CAP_NET_RAW (socket(AF_PACKET, SOCK_RAW) failed with EPERM)");
  });

  test("an unknown interface is named; nothing is opened", async () => {
    const { libc, calls } = fakeLibc();
    const err = await sendGratuitousArp("lan9", "198.51.100.10", { libc, sysClassNet: sys }).catch((e) => e);
    expect(err.reason).toBe("no-such-interface");
    expect(err.message).toBe('gratuitous ARP for 198.51.100.10: no interface "lan9" in this network namespace');
    expect(calls.socket).toEqual([]);
  });

  test("a non-Ethernet interface and a sysfs of another namespace are refused before any send", async () => {
    const { libc, calls } = fakeLibc({ indexes: { lo: 1, lan0: 12 } });
    await expect(sendGratuitousArp("lo", "198.51.100.10", { libc, sysClassNet: sys })).rejects.toThrow('interface "lo" is not Ethernet (ARPHRD type 772)');
    await expect(sendGratuitousArp("lan0", "198.51.100.10", { libc, sysClassNet: sys })).rejects.toThrow("sysfs belongs to another network namespace");
    expect(calls.sent).toEqual([]);
  });

  test("a link that is down is reported as such, and the socket is still closed", async () => {
    const { libc, calls } = fakeLibc({ sendErrno: 100 });
    await expect(sendGratuitousArp("lan0", "198.51.100.10", { libc, sysClassNet: sys })).rejects.toThrow("gratuitous ARP request for 198.51.100.10 on lan0: interface lan0 is down (ENETDOWN)");
    await Bun.sleep(0);
    expect(calls.closed).toEqual([9]);
  });

  test("bad input names the value", async () => {
    const { libc } = fakeLibc();
    await expect(sendGratuitousArp("lan0", "198.51.100", { libc })).rejects.toThrow('gratuitous ARP: "198.51.100" is not an IPv4 address');
    await expect(sendGratuitousArp("../lan0", "198.51.100.10", { libc })).rejects.toThrow('gratuitous ARP: "../lan0" is not an interface name');
    await expect(sendGratuitousArp("a-very-long-name0", "198.51.100.10", { libc })).rejects.toThrow('"a-very-long-name0" is not an interface name');
  });

  test("without FFI and without busybox: one error that says both", async () => {
    await expect(sendGratuitousArp("lan0", "198.51.100.10", { libc: null, busybox: null })).rejects.toThrow(
      "cannot send gratuitous ARP for 198.51.100.10 on lan0: bun:ffi/libc is unavailable and busybox (arping) is not installed",
    );
  });

  function fakeBusybox(script: string): { bin: string; log: string } {
    const bin = join(dir, `busybox-${Math.random().toString(36).slice(2)}`);
    const log = `${bin}.log`;
    writeFileSync(bin, `#!/bin/sh\necho "$*" >> ${log}\n${script}\n`);
    chmodSync(bin, 0o755);
    return { bin, log };
  }

  test("without FFI, busybox arping sends the request form (-U) and the reply form (-A)", async () => {
    const bb = fakeBusybox("exit 0");
    expect(await sendGratuitousArp("lan0", "198.51.100.10", { libc: null, busybox: bb.bin })).toEqual({ sent: 2 });
    expect(readFileSync(bb.log, "utf8")).toBe("arping -U -c 1 -I lan0 198.51.100.10\narping -A -c 1 -I lan0 198.51.100.10\n");
  });

  test("busybox's failures keep their meaning: no permission is CAP_NET_RAW, an unassigned address is named", async () => {
    const denied = fakeBusybox("echo 'arping: socket: Operation not permitted' >&2; exit 1");
    const e1 = await sendGratuitousArp("lan0", "198.51.100.10", { libc: null, busybox: denied.bin }).catch((e) => e);
    expect(e1.reason).toBe("no-cap-net-raw");
    expect(e1.message).toStartWith("sending gratuitous ARP for 198.51.100.10 on lan0 needs CAP_NET_RAW (");
    const unassigned = fakeBusybox("echo 'arping: bind: Cannot assign requested address' >&2; exit 1");
    await expect(sendGratuitousArp("lan0", "198.51.100.10", { libc: null, busybox: unassigned.bin })).rejects.toThrow("198.51.100.10 is not assigned to lan0");
    const gone = fakeBusybox("echo 'arping: interface lan0 not found: No such device' >&2; exit 1");
    await expect(sendGratuitousArp("lan0", "198.51.100.10", { libc: null, busybox: gone.bin })).rejects.toThrow('no interface "lan0"');
  });
});
