import { describe, expect, test } from "bun:test";
import { createLogger } from "../log/logger.ts";
import { newPacket } from "./packet.ts";
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

describe("option templates", () => {
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

  test("render, encode by type; an empty rendering leaves the option out", () => {
    const lines: string[] = [];
    const r = new OptionRenderer(createLogger({ sink: (l) => lines.push(l) }));
    expect(new TextDecoder().decode(r.encode(12, "<%= it.options[12] %>.<%= it.subnet %>", data, extra.mac))).toBe("node1.lab");
    expect(r.encode(3, "<%= it.serverAddress %>", data, extra.mac)).toEqual(Uint8Array.of(198, 51, 100, 1));
    expect(r.encode(17, '<%= it.has(17) ? it.options[17] : "" %>', data, extra.mac)).toBeUndefined();
    expect(lines).toEqual([]);
  });

  test("plain values never build the request view", () => {
    const r = new OptionRenderer(createLogger({ sink: () => {} }));
    const boom = () => {
      throw new Error("must not be called");
    };
    expect(r.encode(51, "3600", boom, extra.mac)).toEqual(Uint8Array.of(0, 0, 0x0e, 0x10));
    expect(OptionRenderer.isTemplate("3600")).toBe(false);
    expect(OptionRenderer.isTemplate("<%= it.mac %>")).toBe(true);
  });
});
