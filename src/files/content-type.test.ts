import { expect, test } from "bun:test";
import { contentTypeFor, textContentTypeFor } from "./content-type.ts";

test("content types by extension and name", () => {
  expect(contentTypeFor("machines/x/boot.ipxe")).toBe("text/plain; charset=utf-8");
  expect(contentTypeFor("rocky/ks.cfg")).toBe("text/plain; charset=utf-8");
  expect(contentTypeFor("x/user-data")).toBe("text/plain; charset=utf-8");
  expect(contentTypeFor("ipxe.EFI")).toBe("application/efi");
  expect(contentTypeFor("flatcar.ign")).toBe("application/json");
  expect(contentTypeFor("vmlinuz")).toBe("application/octet-stream");
  expect(contentTypeFor(".bashrc")).toBe("application/octet-stream");
  expect(contentTypeFor("rocky/.treeinfo")).toBe("text/plain; charset=utf-8");
});

test("YAML is application/yaml (RFC 9512), static or rendered, .yaml or .yml", () => {
  for (const path of ["talos/talos.yaml", "x/network.yml", "X/CONFIG.YAML"]) {
    expect(contentTypeFor(path)).toBe("application/yaml");
    expect(textContentTypeFor(path)).toBe("application/yaml");
  }
});

test("a rendered file is text: the table's type when it is textual, text/plain otherwise", () => {
  expect(textContentTypeFor("machines/x/ks.cfg")).toBe("text/plain; charset=utf-8");
  expect(textContentTypeFor("machines/x/ignition.json")).toBe("application/json");
  expect(textContentTypeFor("machines/x/config.ign")).toBe("application/json");
  expect(textContentTypeFor("machines/x/unattend.xml")).toBe("application/xml");
  expect(textContentTypeFor("machines/x/user-data")).toBe("text/plain; charset=utf-8");
  // No extension, or one the table calls binary: still text, it came from a template.
  expect(textContentTypeFor("pxelinux.cfg/01-52-54-00-12-34-56")).toBe("text/plain; charset=utf-8");
  expect(textContentTypeFor("pxelinux.cfg/default")).toBe("text/plain; charset=utf-8");
  expect(textContentTypeFor("grub/x.img")).toBe("text/plain; charset=utf-8");
});
