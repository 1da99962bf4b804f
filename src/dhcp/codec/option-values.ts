// Subnet and reservation options are text in the model ({Code: 6, Value: "198.51.100.1,198.51.100.2"}).
// This turns one into wire bytes by the option's type (RFC 2132 and successors), through the codec's
// encoders so that the same validation applies. Lists are comma-separated (spaces allowed).
// Codes without a known type are sent as the text's bytes, or as raw bytes when written "0x0a0b...".

import { DhcpEncodeError } from "./errors.ts";
import { encodeClasslessRoutes } from "./classless-routes.ts";
import { encodeDomainSearch } from "./domain-search.ts";
import * as T from "./option-types.ts";

type Kind = "ip" | "ips" | "u8" | "u16" | "u32" | "i32" | "bool" | "string" | "domains" | "routes" | "raw";

const KINDS = new Map<number, Kind>();
const put = (kind: Kind, codes: number[]) => codes.forEach((c) => KINDS.set(c, kind));
put("ip", [1, 16, 28, 32, 50, 54, 118]);
put("ips", [3, 4, 5, 6, 7, 8, 9, 10, 11, 41, 42, 44, 45, 48, 49, 65, 68, 69, 70, 71, 72, 73, 74, 75, 76, 150]);
put("u8", [23, 37, 46]);
put("u16", [13, 22, 26, 57]);
put("u32", [24, 35, 38, 51, 58, 59, 211]);
put("i32", [2]);
put("bool", [19, 20, 27, 29, 30, 31, 34, 36, 39]);
put("string", [12, 14, 15, 17, 18, 40, 47, 56, 60, 62, 64, 66, 67, 86, 87, 100, 101, 114, 209, 210]);
put("domains", [119]);
put("routes", [121]);

function list(v: string): string[] {
  return v
    .split(",")
    .map((x) => x.trim())
    .filter((x) => x !== "");
}

function int(code: number, v: string): number {
  const t = v.trim();
  if (!/^-?[0-9]{1,10}$/.test(t)) throw T.encodeFail(code, "bad-integer", `value "${v}" is not an integer`);
  return Number(t);
}

function hexBytes(code: number, v: string): Uint8Array {
  const h = v.slice(2).replace(/[:\s]/g, "");
  if (h.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(h)) {
    throw T.encodeFail(code, "bad-hex", `value "${v}" is not an even number of hex digits after 0x`);
  }
  const out = new Uint8Array(h.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(h.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/**
 * Wire bytes for option `code` from its text form. Throws DhcpEncodeError naming the option and
 * quoting the value. Routes (121) read "10.0.0.0/8 198.51.100.1, 0.0.0.0/0 198.51.100.1".
 */
export function encodeOptionValue(code: number, value: string): Uint8Array {
  const kind = KINDS.get(code) ?? "raw";
  switch (kind) {
    case "ip":
      return T.encodeIp(code, value.trim());
    case "ips":
      return T.encodeIpList(code, list(value));
    case "u8":
      return T.encodeU8(code, int(code, value));
    case "u16":
      return T.encodeU16(code, int(code, value));
    case "u32":
      return T.encodeU32(code, int(code, value));
    case "i32":
      return T.encodeI32(code, int(code, value));
    case "bool": {
      const t = value.trim().toLowerCase();
      if (t === "true" || t === "1") return Uint8Array.of(1);
      if (t === "false" || t === "0") return Uint8Array.of(0);
      throw T.encodeFail(code, "bad-boolean", `value "${value}" is not true, false, 1 or 0`);
    }
    case "string":
      return T.encodeString(code, value);
    case "domains":
      return encodeDomainSearch(list(value));
    case "routes":
      return encodeClasslessRoutes(
        list(value).map((r) => {
          const [destination, router, ...rest] = r.split(/\s+/);
          if (!destination || !router || rest.length > 0) {
            throw T.encodeFail(code, "bad-route", `route "${r}" is not "destination/width router"`);
          }
          return { destination, router };
        }),
      );
    case "raw":
      if (/^0x/i.test(value)) return hexBytes(code, value);
      if (value.length === 0) throw new DhcpEncodeError("empty", `encode ${T.label(code)}: value is empty`);
      return T.encodeString(code, value);
  }
}
