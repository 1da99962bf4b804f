import { describe, expect, test } from "bun:test";
import type { ClientFacts } from "./booter.ts";
import { createMinimalBooter } from "./minimal-booter.ts";

const facts = (over: Partial<ClientFacts>): ClientFacts => ({
  mac: "52:54:00:12:34:56",
  arch: undefined,
  userClass: "",
  vendorClass: "",
  uuid: "",
  relay: "",
  clientAddress: "",
  serverAddress: "198.51.100.1",
  ...over,
});

describe("createMinimalBooter", () => {
  const booter = createMinimalBooter({ httpPort: 8091 });
  const boot = (over: Partial<ClientFacts>) => booter.dhcpBoot(facts(over));

  test("iPXE gets its script over HTTP, whatever the firmware below it", () => {
    for (const arch of [undefined, 0, 7, 11]) {
      expect(boot({ userClass: "iPXE", arch })).toEqual({
        nextServer: "198.51.100.1",
        bootFile: "http://198.51.100.1:8091/default.ipxe",
        httpClient: false,
        ipxe: true,
      });
    }
  });

  test("the script path and port are configurable", () => {
    const b = createMinimalBooter({ httpPort: 80, ipxeScriptPath: "/boot/start.ipxe" });
    expect(b.dhcpBoot(facts({ userClass: "iPXE", serverAddress: "203.0.113.5" }))?.bootFile).toBe("http://203.0.113.5/boot/start.ipxe");
  });

  test("TFTP loaders by architecture; next-server is the address the client reached", () => {
    const cases: [number | undefined, string][] = [
      [0, "undionly.kpxe"],
      [undefined, "undionly.kpxe"], // classic BIOS PXE ROMs omit option 93
      [6, "ipxe.efi"],
      [7, "ipxe.efi"],
      [9, "ipxe.efi"],
      [11, "ipxe-arm64.efi"],
    ];
    for (const [arch, file] of cases) {
      expect(boot({ arch, serverAddress: "203.0.113.9" })).toEqual({ nextServer: "203.0.113.9", bootFile: file, httpClient: false, ipxe: false });
    }
  });

  test("UEFI HTTP boot gets a URL and httpClient", () => {
    expect(boot({ arch: 16 })).toEqual({ nextServer: "198.51.100.1", bootFile: "http://198.51.100.1:8091/ipxe.efi", httpClient: true, ipxe: false });
    expect(boot({ arch: 19 })).toEqual({
      nextServer: "198.51.100.1",
      bootFile: "http://198.51.100.1:8091/ipxe-arm64.efi",
      httpClient: true,
      ipxe: false,
    });
  });

  test("architectures without a loader get no boot information", () => {
    expect(boot({ arch: 12 })).toBeUndefined();
    expect(boot({ arch: 27 })).toBeUndefined();
  });
});
