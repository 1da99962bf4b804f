import { describe, expect, test } from "bun:test";
import { hex } from "./bytes.ts";
import { DhcpEncodeError, DhcpParseError } from "./errors.ts";
import { MessageType } from "./message-type.ts";
import { DhcpOptions } from "./options.ts";
import {
  BOOTREPLY,
  formatPacket,
  macString,
  newPacket,
  parsePacket,
  replyMaxSize,
  type DhcpPacket,
} from "./packet.ts";

const MAC = Uint8Array.of(0x52, 0x54, 0x00, 0x12, 0x34, 0x56);

/** A header with the cookie and the given raw options area. */
function raw(options: number[], opts: { size?: number; file?: number[]; sname?: number[]; hlen?: number } = {}): Uint8Array {
  const b = new Uint8Array(Math.max(opts.size ?? 0, 240 + options.length));
  b[0] = 1;
  b[1] = 1;
  b[2] = opts.hlen ?? 6;
  b.set([0xde, 0xad, 0xbe, 0xef], 4);
  b.set(MAC, 28);
  if (opts.sname) b.set(opts.sname, 44);
  if (opts.file) b.set(opts.file, 108);
  b.set([99, 130, 83, 99], 236);
  b.set(options, 240);
  return b;
}

function parseError(buf: Uint8Array): DhcpParseError {
  try {
    parsePacket(buf);
  } catch (e) {
    if (e instanceof DhcpParseError) return e;
    throw e;
  }
  throw new Error("expected a DhcpParseError");
}

function discover(): DhcpPacket {
  const p = newPacket({ xid: 0x01020304, chaddr: MAC.slice(), flags: 0x8000 });
  p.options.setMessageType(MessageType.DHCPDISCOVER).setParameterList([1, 3, 6, 67]);
  return p;
}

describe("parsePacket header", () => {
  test("reads every fixed field", () => {
    const b = raw([53, 1, 1, 255]);
    b[3] = 2;
    b.set([0, 7, 0x80, 0], 8);
    b.set([10, 0, 0, 1, 10, 0, 0, 2, 10, 0, 0, 3, 10, 0, 0, 4], 12);
    b.set(new TextEncoder().encode("server"), 44);
    b.set(new TextEncoder().encode("pxelinux.0"), 108);
    const p = parsePacket(b);
    expect(p.op).toBe(1);
    expect(p.htype).toBe(1);
    expect(p.hlen).toBe(6);
    expect(p.hops).toBe(2);
    expect(p.xid).toBe(0xdeadbeef);
    expect(p.secs).toBe(7);
    expect(p.flags).toBe(0x8000);
    expect([p.ciaddr, p.yiaddr, p.siaddr, p.giaddr]).toEqual(["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"]);
    expect(hex(p.chaddr)).toBe("525400123456");
    expect(p.sname).toBe("server");
    expect(p.file).toBe("pxelinux.0");
    expect(p.options.getMessageType()).toBe(MessageType.DHCPDISCOVER);
  });

  test("rejects a packet shorter than the BOOTP header", () => {
    expect(parseError(new Uint8Array(235)).message).toBe(
      "parse DHCP packet: 235 bytes is shorter than the 236-byte BOOTP header",
    );
  });

  test("rejects unknown op and hlen above 16", () => {
    const b = raw([255]);
    b[0] = 3;
    expect(parseError(b).reason).toBe("bad-op");
    const c = raw([255], { hlen: 17 });
    expect(parseError(c).message).toContain("hlen 17 exceeds the 16-byte chaddr field");
  });

  test("chaddr follows hlen for any htype", () => {
    const ib = raw([255], { hlen: 0 });
    ib[1] = 32;
    expect(parsePacket(ib).chaddr.length).toBe(0);
    const long = raw([255], { hlen: 16 });
    long.set(Array.from({ length: 16 }, (_, i) => i + 1), 28);
    long[1] = 6;
    const p = parsePacket(long);
    expect(p.chaddr.length).toBe(16);
    expect(macString(p.chaddr, p.htype, p.hlen)).toBe("06-01:02:03:04:05:06:07:08:09:0a:0b:0c:0d:0e:0f:10");
    expect(parsePacket(formatPacket(p)).chaddr).toEqual(p.chaddr);
  });

  test("plain BOOTP without the magic cookie parses with no options", () => {
    const b = raw([53, 1, 1, 255], { size: 300 });
    b.set([1, 2, 3, 4], 236);
    const p = parsePacket(b);
    expect(p.options.size).toBe(0);
    expect(parsePacket(new Uint8Array(236).fill(0).map((_, i) => (i === 0 ? 1 : 0))).options.size).toBe(0);
  });

  test("sname and file stop at the first NUL", () => {
    const p = parsePacket(raw([255], { file: [0x61, 0x62, 0, 0x63] }));
    expect(p.file).toBe("ab");
  });
});

describe("parsePacket options", () => {
  test("says which option lies about its length", () => {
    const e = parseError(raw([53, 1, 1, 93, 4, 0]));
    expect(e.message).toBe("parse DHCP packet: option 93 claims 4 bytes but 1 remains in the options field at offset 243");
    expect(e.reason).toBe("truncated-option");
    expect(parseError(raw([53, 1, 1, 93])).message).toContain("option 93 has no length byte");
  });

  test("skips pad, stops at end, ignores what follows end", () => {
    const p = parsePacket(raw([0, 0, 53, 1, 3, 0, 255, 12, 200]));
    expect(p.options.codes()).toEqual([53]);
  });

  test("a missing end option is tolerated at the end of the packet", () => {
    expect(parsePacket(raw([53, 1, 1, 12, 2, 0x61, 0x62])).options.getHostName()).toBe("ab");
  });

  test("RFC 3396: instances of one code are concatenated in order", () => {
    const p = parsePacket(raw([12, 2, 0x61, 0x62, 53, 1, 1, 12, 1, 0x63, 255]));
    expect(p.options.getHostName()).toBe("abc");
    expect(p.options.codes()).toEqual([12, 53]);
  });

  test("zero-length options are kept", () => {
    const p = parsePacket(raw([80, 0, 255]));
    expect(p.options.get(80)).toEqual(new Uint8Array(0));
    expect(hex(formatPacket(p).subarray(240, 243))).toBe("5000ff");
  });

  test("overload 3 reads options, then file, then sname; fields read as empty", () => {
    const p = parsePacket(
      raw([52, 1, 3, 12, 1, 0x61, 255], { file: [12, 1, 0x62, 66, 1, 0x66, 255], sname: [12, 1, 0x63, 255] }),
    );
    expect(p.options.getHostName()).toBe("abc");
    expect(p.options.getTftpServerName()).toBe("f");
    expect(p.options.has(52)).toBe(false);
    expect(p.file).toBe("");
    expect(p.sname).toBe("");
  });

  test("overload 1 leaves sname as a string", () => {
    const p = parsePacket(raw([52, 1, 1, 255], { file: [12, 1, 0x62, 255], sname: [0x73, 0x76] }));
    expect(p.options.getHostName()).toBe("b");
    expect(p.sname).toBe("sv");
  });

  test("rejects nested, repeated and malformed overload", () => {
    expect(parseError(raw([52, 1, 1, 255], { file: [52, 1, 2, 255] })).message).toBe(
      "parse DHCP packet: option 52 (overload) inside the file field",
    );
    expect(parseError(raw([52, 1, 2, 255], { sname: [52, 1, 1, 255] })).reason).toBe("nested-overload");
    expect(parseError(raw([52, 1, 1, 52, 1, 1, 255])).message).toContain("appears more than once");
    expect(parseError(raw([52, 1, 4, 255])).message).toContain('got 1 bytes "04"');
    expect(parseError(raw([52, 2, 1, 1, 255])).reason).toBe("bad-overload");
    expect(parseError(raw([52, 0, 255])).reason).toBe("bad-overload");
  });

  test("a truncated option inside the file field names the field", () => {
    expect(parseError(raw([52, 1, 1, 255], { file: [...new Array(125).fill(0), 12, 5] })).message).toContain(
      "option 12 claims 5 bytes but 1 remains in the file field",
    );
  });

  test("parsed bytes do not alias the input, even a Buffer (whose slice is a view)", () => {
    for (const b of [raw([12, 1, 0x61, 255]), Buffer.from(raw([12, 1, 0x61, 255]))]) {
      const p = parsePacket(b);
      b[242] = 0x7a;
      b[28] = 0xff;
      expect(p.options.getHostName()).toBe("a");
      expect(p.chaddr[0]).toBe(0x52);
    }
    const src = Buffer.from([1, 2]);
    const o = new DhcpOptions([[200, src]]);
    src[0] = 9;
    expect(o.get(200)).toEqual(Uint8Array.of(1, 2));
  });
});

describe("formatPacket", () => {
  test("pads to the 300-byte BOOTP minimum and writes cookie and end", () => {
    const b = formatPacket(discover());
    expect(b.length).toBe(300);
    expect(hex(b.subarray(236, 240))).toBe("63825363");
    expect(hex(b.subarray(240, 250))).toBe("3501013704010306" + "43ff");
    expect(b.subarray(250).every((x) => x === 0)).toBe(true);
  });

  test("round-trips header fields", () => {
    const p = discover();
    Object.assign(p, { op: BOOTREPLY, hops: 3, secs: 65535, yiaddr: "192.0.2.9", siaddr: "192.0.2.1", giaddr: "192.0.2.254", sname: "boot", file: "ipxe.efi" });
    const q = parsePacket(formatPacket(p));
    const { options: _a, ...ph } = p;
    const { options: _b, ...qh } = q;
    expect(qh).toEqual(ph);
  });

  test("RFC 3396: options longer than 255 bytes are split and rejoined", () => {
    const p = discover();
    const big = Uint8Array.from({ length: 600 }, (_, i) => i & 0xff);
    p.options.set(224, big);
    const b = formatPacket(p, { maxSize: 1400 });
    // 224 appears as 255 + 255 + 90
    expect(b[249]).toBe(224);
    expect(b[250]).toBe(255);
    expect(b[249 + 257]).toBe(224);
    expect(b[249 + 514]).toBe(224);
    expect(b[249 + 515]).toBe(90);
    expect(parsePacket(b).options.get(224)).toEqual(big);
  });

  test("an option of exactly 255 bytes is one instance", () => {
    const p = discover();
    p.options.set(224, new Uint8Array(255).fill(7));
    const b = formatPacket(p);
    expect(b.length).toBe(240 + 9 + 257 + 1);
    expect(parsePacket(b).options.get(224)?.length).toBe(255);
  });

  test("respects maxSize by overloading into file, then sname", () => {
    const p = discover();
    p.options.set(224, new Uint8Array(250).fill(1)); // 252 on the wire
    p.options.set(225, new Uint8Array(100).fill(2)); // 102
    p.options.set(226, new Uint8Array(40).fill(3)); // 42
    const b = formatPacket(p, { maxSize: 576 - 28 });
    expect(b.length).toBeLessThanOrEqual(548);
    const q = parsePacket(b);
    expect(b[108]).toBe(225); // file holds 225
    expect(b[44]).toBe(226); // sname holds 226
    expect(hex(b.subarray(240 + 9 + 252, 240 + 9 + 252 + 4))).toBe("340103ff");
    for (const c of [53, 55, 224, 225, 226]) expect(q.options.get(c)).toEqual(p.options.get(c)!);
    expect(q.file).toBe("");
  });

  test("an option longer than 255 bytes is split to fill options, file and sname", () => {
    const p = discover();
    const big = Uint8Array.from({ length: 420 }, (_, i) => (i * 7) & 0xff);
    p.options.set(224, big);
    p.options.set(12, Uint8Array.of(0x68)); // short options stay whole, after the long one
    const b = formatPacket(p);
    expect(b.length).toBe(548);
    expect(b[108]).toBe(224);
    expect(b[44]).toBe(224);
    const q = parsePacket(b);
    expect(q.options.get(224)).toEqual(big);
    expect(q.options.getHostName()).toBe("h");
    expect(q.options.codes()).toEqual([53, 55, 224, 12]);
  });

  test("overload uses only file when that is enough", () => {
    const p = discover();
    p.options.set(224, new Uint8Array(250).fill(1));
    p.options.set(225, new Uint8Array(60).fill(2));
    p.sname = "next-server";
    const b = formatPacket(p);
    expect(hex(b.subarray(501, 505))).toBe("340101ff");
    const q = parsePacket(b);
    expect(q.sname).toBe("next-server");
    expect(q.options.get(225)?.length).toBe(60);
  });

  test("too big: says why when file and sname are taken or overload is off", () => {
    const p = discover();
    p.options.set(224, new Uint8Array(400));
    p.file = "x";
    p.sname = "y";
    expect(() => formatPacket(p)).toThrow("options need 414 bytes but 308 fit within maxSize 548 and file and sname are in use");
    p.file = "";
    p.sname = "";
    expect(() => formatPacket(p, { overload: false })).toThrow("overload is disabled");
    p.options.set(225, new Uint8Array(300));
    expect(() => formatPacket(p)).toThrow(DhcpEncodeError);
    expect(formatPacket(p, { maxSize: 1000 }).length).toBeLessThanOrEqual(1000);
  });

  test("validates header values", () => {
    expect(() => formatPacket({ ...discover(), hlen: 5 })).toThrow('chaddr "52:54:00:12:34:56" is 6 bytes but hlen is 5');
    expect(() => formatPacket({ ...discover(), ciaddr: "10.0.0" })).toThrow('invalid ciaddr "10.0.0"');
    expect(() => formatPacket({ ...discover(), xid: -1 })).toThrow("xid -1");
    expect(() => formatPacket({ ...discover(), file: "a".repeat(129) })).toThrow("more than 128");
    expect(() => formatPacket({ ...discover(), sname: "a\0b" })).toThrow("NUL");
    expect(() => formatPacket(discover(), { maxSize: 200 })).toThrow("maxSize 200");
    expect(parsePacket(formatPacket({ ...discover(), file: "f".repeat(128) })).file.length).toBe(128);
  });
});

describe("replyMaxSize and macString", () => {
  test("option 57 counts the IP datagram, never below 576, capped by the MTU", () => {
    const req = discover();
    expect(replyMaxSize(req)).toBe(548);
    req.options.setMaxMessageSize(1472);
    expect(replyMaxSize(req)).toBe(1444);
    req.options.setMaxMessageSize(65280);
    expect(replyMaxSize(req)).toBe(1472);
    expect(replyMaxSize(req, 9000)).toBe(8972);
    req.options.setMaxMessageSize(300);
    expect(replyMaxSize(req)).toBe(548);
    req.options.set(57, Uint8Array.of(1));
    expect(replyMaxSize(req)).toBe(548);
  });

  test("macString prints hlen bytes", () => {
    expect(macString(MAC)).toBe("52:54:00:12:34:56");
    expect(macString(MAC, 1, 3)).toBe("52:54:00");
    expect(macString(new Uint8Array(0), 32, 0)).toBe("20-");
  });
});

test("newPacket options are independent", () => {
  const a = newPacket();
  const b = newPacket({ options: new DhcpOptions([[12, Uint8Array.of(0x61)]]) });
  a.options.setHostName("x");
  expect(b.options.getHostName()).toBe("a");
});
