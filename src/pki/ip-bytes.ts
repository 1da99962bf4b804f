// IP addresses as the bytes an X.509 iPAddress SAN holds (4 or 16), so that addresses from
// os.networkInterfaces(), from operators and from a certificate compare equal whatever their
// spelling ("::1", "0:0:0:0:0:0:0:1", "FE80::A" and "fe80::a" are each one address).

import { isIPv4, isIPv6 } from "node:net";

/** The address's bytes, or undefined when it is not an IPv4 or IPv6 address. A zone ("%eth0") is ignored. */
export function ipToBytes(address: string): Uint8Array | undefined {
  const pct = address.indexOf("%");
  // A zone is only meaningful on IPv6 and must name something.
  if (pct >= 0 && (pct === address.length - 1 || !isIPv6(address.slice(0, pct)))) return undefined;
  const addr = pct >= 0 ? address.slice(0, pct) : address;
  if (isIPv4(addr)) return Uint8Array.from(addr.split(".").map(Number));
  if (!isIPv6(addr)) return undefined;
  // node:net has validated the syntax; what is left is expanding "::" and an IPv4 tail.
  let text = addr;
  const tail: number[] = [];
  const lastColon = text.lastIndexOf(":");
  const last = text.slice(lastColon + 1);
  if (last.includes(".")) {
    const v4 = last.split(".").map(Number);
    tail.push(((v4[0] ?? 0) << 8) | (v4[1] ?? 0), ((v4[2] ?? 0) << 8) | (v4[3] ?? 0));
    text = text.slice(0, lastColon + 1) + "0"; // placeholder group, dropped below
  }
  const [head, rest] = text.includes("::") ? (text.split("::") as [string, string]) : [text, undefined];
  const groups = (s: string) => (s === "" ? [] : s.split(":").map((g) => parseInt(g, 16)));
  let words: number[];
  if (rest === undefined) {
    words = groups(head);
  } else {
    const h = groups(head);
    const r = groups(rest);
    words = [...h, ...new Array<number>(8 - h.length - r.length - (tail.length > 0 ? 1 : 0)).fill(0), ...r];
  }
  if (tail.length > 0) words = [...words.slice(0, -1), ...tail];
  if (words.length !== 8) return undefined;
  const out = new Uint8Array(16);
  words.forEach((w, i) => {
    out[2 * i] = w >> 8;
    out[2 * i + 1] = w & 0xff;
  });
  return out;
}

/** A canonical text form for comparisons and messages: IPv4 dotted, IPv6 as 8 lower-case groups. */
export function canonicalIp(address: string): string | undefined {
  const b = ipToBytes(address);
  if (!b) return undefined;
  if (b.length === 4) return Array.from(b).join(".");
  const words: string[] = [];
  for (let i = 0; i < 16; i += 2) words.push((((b[i] ?? 0) << 8) | (b[i + 1] ?? 0)).toString(16));
  return words.join(":");
}
