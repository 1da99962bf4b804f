// Option 77, User Class. RFC 3004 defines a list of length-prefixed class strings, but iPXE (and
// gPXE, and many DHCP client configs) send one plain string such as "iPXE". Decoding tries RFC 3004
// first: it is accepted only if every item has a non-zero length and the items cover the data
// exactly; otherwise the whole value is one plain string. "iPXE" cannot be misread as RFC 3004
// because 'i' (105) would claim 105 bytes.

import { byteString, stringBytes } from "./bytes.ts";
import { DhcpEncodeError } from "./errors.ts";

export interface UserClass {
  form: "rfc3004" | "plain";
  classes: string[];
}

export function decodeUserClass(d: Uint8Array): UserClass {
  const classes: string[] = [];
  let i = 0;
  let ok = d.length > 0;
  while (ok && i < d.length) {
    const len = d[i]!;
    if (len === 0 || i + 1 + len > d.length) ok = false;
    else {
      classes.push(byteString(d, i + 1, i + 1 + len));
      i += 1 + len;
    }
  }
  if (ok) return { form: "rfc3004", classes };
  return { form: "plain", classes: d.length === 0 ? [] : [byteString(d)] };
}

/** RFC 3004 form unless `plain` is asked for (one class only, as iPXE sends it). */
export function encodeUserClass(classes: readonly string[], form: UserClass["form"] = "rfc3004"): Uint8Array {
  const what = "option 77 (User Class)";
  if (form === "plain") {
    if (classes.length !== 1) {
      throw new DhcpEncodeError("bad-user-class", `encode ${what}: plain form carries exactly one class, got ${classes.length}`);
    }
    return stringBytes(classes[0]!, what);
  }
  const out: number[] = [];
  for (const c of classes) {
    if (c.length === 0 || c.length > 255) {
      throw new DhcpEncodeError("bad-user-class", `encode ${what}: class "${c}" must be 1-255 bytes`);
    }
    out.push(c.length, ...stringBytes(c, what));
  }
  return Uint8Array.from(out);
}
