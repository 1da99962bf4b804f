// Option 121, Classless Static Route (RFC 3442). Each route is a prefix width (0-32), only the
// significant octets of the destination (ceil(width/8)), then the 4-byte router. A /0 route is a
// default route; RFC 3442 says a client that receives 121 ignores option 3, so a server that sends 121
// should include the default route in it.

import { ipBytes, ipString } from "./bytes.ts";
import { DhcpEncodeError, DhcpParseError } from "./errors.ts";

const WHERE = "option 121 (Classless Static Route)";

export interface ClasslessRoute {
  /** "10.0.0.0/8"; bits past the width are shown as sent (a sender may leave junk there). */
  destination: string;
  router: string;
}

export function decodeClasslessRoutes(d: Uint8Array): ClasslessRoute[] {
  const out: ClasslessRoute[] = [];
  let i = 0;
  while (i < d.length) {
    const width = d[i]!;
    if (width > 32) {
      throw new DhcpParseError("bad-route", `decode ${WHERE}: prefix width ${width} at offset ${i} is more than 32`);
    }
    const sig = (width + 7) >> 3;
    const need = 1 + sig + 4;
    if (i + need > d.length) {
      throw new DhcpParseError(
        "truncated-route",
        `decode ${WHERE}: route /${width} at offset ${i} needs ${need} bytes but ${d.length - i} remain`,
      );
    }
    const dest = new Uint8Array(4);
    dest.set(d.subarray(i + 1, i + 1 + sig));
    out.push({ destination: `${ipString(dest)}/${width}`, router: ipString(d, i + 1 + sig) });
    i += need;
  }
  return out;
}

export function encodeClasslessRoutes(routes: readonly ClasslessRoute[]): Uint8Array {
  const out: number[] = [];
  for (const r of routes) {
    const m = /^([0-9.]+)\/([0-9]{1,2})$/.exec(r.destination);
    const bad = (why: string) =>
      new DhcpEncodeError("bad-route", `encode ${WHERE}: invalid destination "${r.destination}": ${why}`);
    if (!m) throw bad('expected "a.b.c.d/width"');
    const width = Number(m[2]);
    if (width > 32) throw bad("width is more than 32");
    const dest = ipBytes(m[1]!, `${WHERE} destination`);
    const sig = (width + 7) >> 3;
    for (let b = 0; b < 4; b++) {
      const keep = Math.max(0, Math.min(8, width - b * 8));
      const hostMask = 0xff >> keep;
      if ((dest[b]! & hostMask) !== 0) throw bad(`host bits set beyond /${width}`);
    }
    out.push(width, ...dest.subarray(0, sig), ...ipBytes(r.router, `${WHERE} router`));
  }
  return Uint8Array.from(out);
}
