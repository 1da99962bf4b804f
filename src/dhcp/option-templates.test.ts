import { describe, expect, test } from "bun:test";
import { createLogger } from "../log/logger.ts";
import { newPacket } from "./codec/packet.ts";
import { OptionRenderer, templateData } from "./option-templates.ts";

const extra = {
  mac: "52:54:00:00:00:01",
  address: "198.51.100.10",
  serverAddress: "198.51.100.1",
  subnet: "lab",
  arch: 7,
  userClass: "",
  vendorClass: "PXEClient",
  uuid: "",
};

const text = (b: Uint8Array | undefined) => (b === undefined ? undefined : new TextDecoder().decode(b));

describe("option values with request fields", () => {
  const req = newPacket();
  req.options.setHostName("node1\u0000");
  const data = () => templateData(req, extra);

  test("request options read as text (trailing NULs dropped); missing ones throw, has() tells", () => {
    const d = data();
    expect(d.options[12]).toBe("node1");
    expect(() => d.options[13]).toThrow("request has no option 13");
    expect(d.has(12)).toBe(true);
    expect(d.has(13)).toBe(false);
  });

  test("fields, request options and alternatives expand, then encode by type", () => {
    const lines: string[] = [];
    const r = new OptionRenderer(createLogger({ sink: (l) => lines.push(l) }));
    expect(text(r.encode(12, "{{options.12}}.{{subnet}}", data, extra.mac))).toBe("node1.lab");
    expect(text(r.encode(12, "n-{{macHex}}-{{arch}}", data, extra.mac))).toBe("n-525400000001-7");
    expect(text(r.encode(12, "{{uuid|hostname}}", data, extra.mac))).toBe("node1"); // no uuid: the next alternative
    expect(text(r.encode(15, "{{options.15|subnet}}.example", data, extra.mac))).toBe("lab.example");
    expect(r.encode(3, "{{serverAddress}}", data, extra.mac)).toEqual(Uint8Array.of(198, 51, 100, 1));
    expect(r.encode(17, '{{options.17|""}}', data, extra.mac)).toBeUndefined(); // empty: not for this client
    expect(lines).toEqual([]);
  });

  test("a missing request option, an unparsable value and Eta code each leave the option out with a line", () => {
    const lines: string[] = [];
    const r = new OptionRenderer(createLogger({ sink: (l) => lines.push(l) }));
    expect(r.encode(42, "{{options.200}}", data, extra.mac)).toBeUndefined();
    expect(r.encode(12, "{{pid}}", data, extra.mac)).toBeUndefined();
    expect(r.encode(12, "<%= process.pid %>", data, extra.mac)).toBeUndefined();
    expect(r.encode(12, "node-<%= it.mac %>", data, extra.mac)).toBeUndefined();
    expect(lines[0]).toContain("request has no option 200");
    expect(lines[1]).toContain('unknown field \\"pid\\"');
    expect(lines[2]).toContain("Eta template code, which is not run any more");
    expect(lines[3]).toContain("node-{{mac}}"); // the hint
    expect(lines.join("\n")).not.toContain(String(process.pid));
    // One line per value a minute, not one per packet.
    for (let i = 0; i < 5; i++) r.encode(12, "<%= process.pid %>", data, extra.mac);
    expect(lines.length).toBe(4);
  });

  test("plain values never build the request view", () => {
    const r = new OptionRenderer(createLogger({ sink: () => {} }));
    const boom = () => {
      throw new Error("must not be called");
    };
    expect(r.encode(51, "3600", boom, extra.mac)).toEqual(Uint8Array.of(0, 0, 0x0e, 0x10));
    expect(OptionRenderer.isTemplate("3600")).toBe(false);
    expect(OptionRenderer.isTemplate("{{mac}}")).toBe(true);
    expect(OptionRenderer.isTemplate("<%= it.mac %>")).toBe(true);
  });
});
