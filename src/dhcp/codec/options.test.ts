import { describe, expect, test } from "bun:test";
import { hex } from "./bytes.ts";
import { DhcpEncodeError, DhcpParseError } from "./errors.ts";
import { MessageType } from "./message-type.ts";
import { DhcpOptions } from "./options.ts";
import { formatPacket, newPacket, parsePacket } from "./packet.ts";

/** Sets through the typed setter, formats, parses, and returns the re-parsed options. */
function viaWire(fill: (o: DhcpOptions) => void): DhcpOptions {
  const p = newPacket();
  fill(p.options);
  return parsePacket(formatPacket(p, { maxSize: 1500 })).options;
}

describe("DhcpOptions container", () => {
  test("keeps insertion order; replacing keeps the position", () => {
    const o = new DhcpOptions();
    o.set(12, Uint8Array.of(1)).set(3, Uint8Array.of(1, 2, 3, 4)).set(12, Uint8Array.of(2));
    expect(o.codes()).toEqual([12, 3]);
    expect(o.get(12)).toEqual(Uint8Array.of(2));
    expect(o.delete(12)).toBe(true);
    expect(o.has(12)).toBe(false);
    expect(o.size).toBe(1);
  });

  test("set copies its input and clone is independent", () => {
    const b = Uint8Array.of(1);
    const o = new DhcpOptions([[200, b]]);
    b[0] = 9;
    const c = o.clone();
    c.set(200, Uint8Array.of(5));
    expect(o.get(200)).toEqual(Uint8Array.of(1));
  });

  test("refuses the pad, end and overload codes", () => {
    const o = new DhcpOptions();
    expect(() => o.set(0, Uint8Array.of())).toThrow("code must be 1-254");
    expect(() => o.set(255, Uint8Array.of())).toThrow(DhcpEncodeError);
    expect(() => o.set(52, Uint8Array.of(1))).toThrow("overload is chosen by formatPacket");
  });

  test("unknown options round-trip byte-exact, including max length 255 and zero length", () => {
    const o = viaWire((x) => {
      x.set(224, Uint8Array.from({ length: 255 }, (_, i) => 255 - i));
      x.set(225, new Uint8Array(0));
    });
    expect(o.get(224)?.[0]).toBe(255);
    expect(o.get(224)?.length).toBe(255);
    expect(o.get(225)?.length).toBe(0);
  });

  test("absent options read as undefined", () => {
    const o = new DhcpOptions();
    expect(o.getMessageType()).toBeUndefined();
    expect(o.getClientArch()).toBeUndefined();
    expect(o.getUserClass()).toBeUndefined();
    expect(o.hasUserClass("iPXE")).toBe(false);
  });
});

describe("typed options through the wire", () => {
  test("addresses, lists, strings and times", () => {
    const o = viaWire((x) =>
      x
        .setMessageType(MessageType.DHCPOFFER)
        .setSubnetMask("255.255.255.0")
        .setRouters(["192.0.2.1"])
        .setDnsServers(["192.0.2.53", "198.51.100.53"])
        .setHostName("node-01")
        .setDomainName("lab.example")
        .setBroadcastAddress("192.0.2.255")
        .setNtpServers(["192.0.2.123"])
        .setRequestedIp("192.0.2.10")
        .setLeaseTime(3600)
        .setServerId("192.0.2.1")
        .setParameterList([1, 3, 6, 66, 67])
        .setMaxMessageSize(1472)
        .setRenewalTime(1800)
        .setRebindingTime(3150)
        .setVendorClass("PXEClient:Arch:00007:UNDI:003016")
        .setTftpServerName("192.0.2.1")
        .setBootFileName("ipxe.efi")
        .setMessage("no lease"),
    );
    expect(o.getMessageType()).toBe(MessageType.DHCPOFFER);
    expect(o.getSubnetMask()).toBe("255.255.255.0");
    expect(o.getRouters()).toEqual(["192.0.2.1"]);
    expect(o.getDnsServers()).toEqual(["192.0.2.53", "198.51.100.53"]);
    expect(o.getHostName()).toBe("node-01");
    expect(o.getDomainName()).toBe("lab.example");
    expect(o.getBroadcastAddress()).toBe("192.0.2.255");
    expect(o.getNtpServers()).toEqual(["192.0.2.123"]);
    expect(o.getRequestedIp()).toBe("192.0.2.10");
    expect(o.getLeaseTime()).toBe(3600);
    expect(o.getServerId()).toBe("192.0.2.1");
    expect(o.getParameterList()).toEqual([1, 3, 6, 66, 67]);
    expect(o.getMaxMessageSize()).toBe(1472);
    expect(o.getRenewalTime()).toBe(1800);
    expect(o.getRebindingTime()).toBe(3150);
    expect(o.getVendorClass()).toBe("PXEClient:Arch:00007:UNDI:003016");
    expect(o.getTftpServerName()).toBe("192.0.2.1");
    expect(o.getBootFileName()).toBe("ipxe.efi");
    expect(o.getMessage()).toBe("no lease");
  });

  test("structured options", () => {
    const o = viaWire((x) =>
      x
        .setClientId({ type: 1, data: Uint8Array.of(0x52, 0x54, 0, 0, 0, 1) })
        .setUserClass(["iPXE"], "plain")
        .setRelayAgentInfo({ circuitId: Uint8Array.of(1), linkSelection: "198.51.100.0" })
        .setClientArch([7, 16])
        .setClientNdi({ type: 1, major: 3, minor: 16 })
        .setClientUuid({ type: 0, uuid: "8c4d0a7e-1f2a-4b3c-9d8e-7f6a5b4c3d2e" })
        .setDomainSearch(["lab.example", "example"])
        .setClasslessRoutes([{ destination: "0.0.0.0/0", router: "192.0.2.1" }])
        .setVendorIdentifyingClass([{ enterprise: 343, classes: [Uint8Array.of(0x78)] }])
        .setVendorIdentifyingInfo([{ enterprise: 343, subOptions: [{ code: 1, data: Uint8Array.of(2) }] }])
        .setPxeVendorOptions({ discoveryControl: 8 })
        .setIpxeOptions([{ code: 176, data: Uint8Array.of(1) }]),
    );
    expect(o.getClientId()).toEqual({ type: 1, data: Uint8Array.of(0x52, 0x54, 0, 0, 0, 1) });
    expect(o.getUserClass()).toEqual(["iPXE"]);
    expect(o.hasUserClass("iPXE")).toBe(true);
    expect(o.getUserClassDetail()?.form).toBe("plain");
    expect(o.getRelayAgentInfo()?.linkSelection).toBe("198.51.100.0");
    expect(o.getClientArch()).toEqual([7, 16]);
    expect(o.getClientNdi()).toEqual({ type: 1, major: 3, minor: 16 });
    expect(o.getClientUuid()?.uuid).toBe("8c4d0a7e-1f2a-4b3c-9d8e-7f6a5b4c3d2e");
    expect(o.getDomainSearch()).toEqual(["lab.example", "example"]);
    expect(o.getClasslessRoutes()).toEqual([{ destination: "0.0.0.0/0", router: "192.0.2.1" }]);
    expect(o.getVendorIdentifyingClass()?.[0]?.enterprise).toBe(343);
    expect(o.getVendorIdentifyingInfo()?.[0]?.subOptions[0]?.data).toEqual(Uint8Array.of(2));
    expect(hex(o.getVendorSpecific()!)).toBe("060108ff");
    expect(o.getPxeVendorOptions()).toEqual({ discoveryControl: 8 });
    expect(o.getIpxeOptions()?.noPxeDhcp).toBe(true);
    const raw = viaWire((x) => x.setVendorSpecific(Uint8Array.of(1, 2, 3)));
    expect(raw.getVendorSpecific()).toEqual(Uint8Array.of(1, 2, 3));
  });

  test("option 93 with several architectures and an odd length", () => {
    const o = new DhcpOptions([[93, Uint8Array.of(0, 7, 0, 9)]]);
    expect(o.getClientArch()).toEqual([7, 9]);
    o.set(93, Uint8Array.of(0, 7, 0));
    expect(() => o.getClientArch()).toThrow("decode option 93 (Client System Architecture): length 3 is not a multiple of 2");
    o.set(93, new Uint8Array(0));
    expect(o.getClientArch()).toEqual([]);
  });

  test("malformed values throw DhcpParseError naming the option", () => {
    const o = new DhcpOptions([
      [1, Uint8Array.of(255, 255, 255)],
      [3, new Uint8Array(0)],
      [51, Uint8Array.of(1)],
      [53, Uint8Array.of(1, 2)],
    ]);
    expect(() => o.getSubnetMask()).toThrow("decode option 1 (Subnet Mask): must be 4 bytes, got 3");
    expect(() => o.getRouters()).toThrow("length 0 is not a non-zero multiple of 4");
    expect(() => o.getLeaseTime()).toThrow(DhcpParseError);
    expect(() => o.getMessageType()).toThrow("option 53 (DHCP Message Type): must be 1 byte");
  });

  test("setters validate and quote the value", () => {
    const o = new DhcpOptions();
    expect(() => o.setSubnetMask("255.255.255.256")).toThrow('invalid option 1 (Subnet Mask) "255.255.255.256"');
    expect(() => o.setRouters([])).toThrow("needs at least one address");
    expect(() => o.setLeaseTime(-1)).toThrow("value -1 is not an integer in 0..4294967295");
    expect(() => o.setMaxMessageSize(70000)).toThrow("0..65535");
    expect(() => o.setParameterList([1, 300])).toThrow("value 300");
    expect(() => o.setHostName("ħost")).toThrow("is not a single byte");
    expect(o.size).toBe(0);
  });

  test("string options drop trailing NULs but keep the raw bytes", () => {
    const o = new DhcpOptions([[67, Uint8Array.of(0x61, 0x62, 0, 0)]]);
    expect(o.getBootFileName()).toBe("ab");
    expect(o.get(67)?.length).toBe(4);
  });
});
