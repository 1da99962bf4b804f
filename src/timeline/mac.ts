// MACs as 48-bit numbers: the timeline's key, built from a packet's chaddr without a string.

/** The first six bytes of a chaddr as a number (exact: 48 bits fit a double). */
export function macFromBytes(b: Uint8Array): number {
  return ((b[0]! * 256 + b[1]!) * 65536 + (b[2]! * 256 + b[3]!)) * 65536 + (b[4]! * 256 + b[5]!);
}

/** Six pairs with one separator throughout, Cisco's three dotted quads, or twelve bare digits. */
const MAC_RE = /^(?:[0-9a-f]{2}([:-])[0-9a-f]{2}(?:\1[0-9a-f]{2}){4}|[0-9a-f]{4}\.[0-9a-f]{4}\.[0-9a-f]{4}|[0-9a-f]{12})$/;

/**
 * A MAC in any common spelling (aa:bb:cc:dd:ee:ff, AA-BB-..., aabb.ccdd.eeff, aabbccddeeff) as a
 * number; undefined when it is not one.
 */
export function macFromString(s: string): number | undefined {
  const t = s.trim().toLowerCase();
  if (!MAC_RE.test(t)) return undefined;
  return parseInt(t.replace(/[:.-]/g, ""), 16);
}

/** "aa:bb:cc:dd:ee:ff". */
export function macToString(mac: number): string {
  const hex = mac.toString(16).padStart(12, "0");
  return hex.replace(/(..)(?!$)/g, "$1:");
}
