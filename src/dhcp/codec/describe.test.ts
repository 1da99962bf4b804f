import { describe, expect, test } from "bun:test";
import { describeOptions, describePacket } from "./describe.ts";
import { MessageType, messageTypeName } from "./message-type.ts";
import { DhcpOptions } from "./options.ts";
import { newPacket } from "./packet.ts";

describe("message types", () => {
  test("print as the RFC names them", () => {
    expect(messageTypeName(MessageType.DHCPDISCOVER)).toBe("DHCPDISCOVER");
    expect(messageTypeName(8)).toBe("DHCPINFORM");
    expect(messageTypeName(99)).toBe("DHCP message type 99");
    expect(MessageType[MessageType.DHCPACK]).toBe("DHCPACK");
  });
});

describe("describePacket", () => {
  test("one header field per line, then options", () => {
    const p = newPacket({ chaddr: Uint8Array.of(1, 2, 3, 4, 5, 6), xid: 0xabc, flags: 0x8000, file: "a\"b" });
    p.options.setMessageType(MessageType.DHCPREQUEST).setClasslessRoutes([{ destination: "10.0.0.0/8", router: "10.0.0.1" }]);
    expect(describePacket(p)).toBe(
      [
        "op: BOOTREQUEST (1)",
        "htype: Ethernet (1)",
        "hlen: 6",
        "hops: 0",
        "xid: 0x00000abc",
        "secs: 0",
        "flags: 0x8000 (broadcast)",
        "ciaddr: 0.0.0.0",
        "yiaddr: 0.0.0.0",
        "siaddr: 0.0.0.0",
        "giaddr: 0.0.0.0",
        "chaddr: 01:02:03:04:05:06",
        'sname: ""',
        'file: "a\\x22b"',
        "options:",
        "  53 DHCP Message Type: DHCPREQUEST",
        "  121 Classless Static Route: 10.0.0.0/8 via 10.0.0.1",
        "",
      ].join("\n"),
    );
  });

  test("never throws: malformed options show the complaint and raw hex", () => {
    const o = new DhcpOptions([
      [93, Uint8Array.of(0)],
      [119, Uint8Array.of(0xc0, 0)],
      [43, Uint8Array.of(6, 9)],
      [240, Uint8Array.of(0xde, 0xad)],
      [82, Uint8Array.of(1, 2, 0x61, 0x62, 5, 4, 10, 0, 0, 0)],
      [77, Uint8Array.of(4, 0x69, 0x50, 0x58, 0x45)],
    ]);
    expect(describeOptions(o)).toEqual([
      "93 Client System Architecture: <invalid: decode option 93 (Client System Architecture): length 1 is not a multiple of 2> 00",
      "119 Domain Search: <invalid: decode option 119 (Domain Search): compression pointer at offset 0 points to 0, not before 0> c0 00",
      "43 Vendor Specific: 06 09",
      "240 Option 240: de ad",
      '82 Relay Agent Information: circuit-id="ab" link-selection=10.0.0.0',
      '77 User Class: RFC 3004 "iPXE"',
    ]);
  });
});
