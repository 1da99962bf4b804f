import { describe, expect, test } from "bun:test";
import { hex } from "./bytes.ts";
import { decodeClasslessRoutes, encodeClasslessRoutes } from "./classless-routes.ts";

describe("option 121 classless static routes", () => {
  test("compact encoding for /0, /8, /24, /25 and /32", () => {
    const routes = [
      { destination: "0.0.0.0/0", router: "198.51.100.1" },
      { destination: "203.0.0.0/8", router: "198.51.100.2" },
      { destination: "203.0.113.0/24", router: "198.51.100.3" },
      { destination: "203.0.113.128/25", router: "198.51.100.4" },
      { destination: "198.51.100.7/32", router: "198.51.100.5" },
    ];
    const d = encodeClasslessRoutes(routes);
    expect(hex(d)).toBe(
      "00c6336401" + "08cbc6336402" + "18cb0071c6336403" + "19cb007180c6336404" + "20c6336407c6336405",
    );
    expect(decodeClasslessRoutes(d)).toEqual(routes);
  });

  test("empty option decodes to no routes", () => {
    expect(decodeClasslessRoutes(new Uint8Array(0))).toEqual([]);
  });

  test("decode reports width over 32 and truncation", () => {
    expect(() => decodeClasslessRoutes(Uint8Array.of(33, 1, 2, 3, 4, 5, 6, 7, 8))).toThrow(
      "prefix width 33 at offset 0 is more than 32",
    );
    expect(() => decodeClasslessRoutes(Uint8Array.of(24, 203, 0, 113, 198, 51))).toThrow(
      "route /24 at offset 0 needs 8 bytes but 6 remain",
    );
    expect(() => decodeClasslessRoutes(Uint8Array.of(0, 198, 51, 100, 1, 8))).toThrow("route /8 at offset 5");
  });

  test("decode shows junk bits past the width as sent", () => {
    expect(decodeClasslessRoutes(Uint8Array.of(7, 0xcb, 198, 51, 100, 1))).toEqual([{ destination: "203.0.0.0/7", router: "198.51.100.1" }]);
  });

  test("encode rejects host bits, bad widths and bad addresses", () => {
    expect(() => encodeClasslessRoutes([{ destination: "203.0.113.1/8", router: "198.51.100.1" }])).toThrow(
      'invalid destination "203.0.113.1/8": host bits set beyond /8',
    );
    expect(() => encodeClasslessRoutes([{ destination: "203.0.0.0/33", router: "198.51.100.1" }])).toThrow("more than 32");
    expect(() => encodeClasslessRoutes([{ destination: "203.0.0.0", router: "198.51.100.1" }])).toThrow("a.b.c.d/width");
    expect(() => encodeClasslessRoutes([{ destination: "203.0.0.0/8", router: "198.51.100" }])).toThrow('"198.51.100"');
  });
});
