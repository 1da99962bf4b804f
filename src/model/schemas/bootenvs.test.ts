import { describe, expect, test } from "bun:test";
import { bootenvs } from "./bootenvs.ts";
import { messagesOf } from "./test-util.ts";

describe("bootenvs", () => {
  test("a complete boot environment with defaults", () => {
    const b = bootenvs.prepare({
      Name: "ubuntu-24.04",
      OS: { Name: "ubuntu-24.04", Family: "ubuntu", IsoSha256: "A".repeat(64), IsoUrl: "https://releases.ubuntu.com/x.iso" },
      Kernel: "casper/vmlinuz",
      Initrds: ["casper/initrd"],
      BootParams: "ip=dhcp url=<%= it.ProvisionerURL %>",
      Templates: [
        { Name: "ipxe", Path: "<%= it.Machine.Path %>/boot.ipxe", ID: "default-ipxe.tmpl" },
        { Name: "user-data", Path: "user-data", Contents: "#cloud-config" },
      ],
      RequiredParams: ["access-keys"],
      Loaders: { amd64: "ipxe.efi", arm64: "arm64/ipxe.efi" },
    });
    expect(b).toMatchObject({ OnlyUnknown: false, OptionalParams: [], Description: "" });
    expect((b.OS as { IsoSha256: string; Version: string }).IsoSha256).toBe("a".repeat(64));
    expect((b.OS as { Version: string }).Version).toBe("");
    expect(bootenvs.references(b)).toEqual([{ type: "templates", key: "default-ipxe.tmpl", field: "Templates[0].ID" }]);
    expect(bootenvs.prepare({ Name: "local" }).OS).toEqual({ Name: "", Family: "", Version: "", IsoFile: "", IsoSha256: "", IsoUrl: "" });
  });

  test("template entries need exactly one of ID and Contents and distinct names", () => {
    expect(
      messagesOf(bootenvs, {
        Name: "b",
        Templates: [
          { Name: "a", Path: "x" },
          { Name: "a", Path: "y", ID: "t", Contents: "" },
          { Name: "c/d", Path: "", Contents: "", Extra: 1 },
        ],
      }),
    ).toEqual([
      'Templates[2].Name: invalid name "c/d": contains "/"',
      "Templates[2].Path: must not be empty",
      "Templates[2].Extra: unknown field",
      "Templates[0]: exactly one of ID and Contents must be set, got neither",
      "Templates[1]: exactly one of ID and Contents must be set, got both",
      'Templates[1].Name: duplicate template name "a" (also at [0])',
    ]);
  });

  test("paths, hashes, URLs, loaders, params", () => {
    expect(
      messagesOf(bootenvs, {
        Name: "b",
        Kernel: "../../etc/passwd",
        Initrds: ["ok", "a/../../b"],
        OS: { IsoSha256: "abc", IsoUrl: "file:///x.iso" },
        Loaders: { sparc: "x" },
        RequiredParams: ["p"],
        OptionalParams: ["p"],
        OnlyUnknown: 1,
      }),
    ).toEqual([
      'OS.IsoSha256: invalid SHA-256 "abc": expected 64 hex digits',
      'OS.IsoUrl: invalid ISO URL "file:///x.iso": expected http://, https:// or ftp://',
      'Kernel: kernel path "../../etc/passwd" must not contain ".." segments',
      'Initrds[1]: initrd path "a/../../b" must not contain ".." segments',
      "OnlyUnknown: expected boolean, got number 1",
      'Loaders.sparc: unknown architecture "sparc"; known: amd64, arm64, 386, arm, ppc64le, s390x, riscv64',
      'OptionalParams[0]: "p" is also in RequiredParams',
    ]);
  });
});
