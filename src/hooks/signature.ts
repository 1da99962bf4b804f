// How a delivery is signed. The receiver recomputes
//   hex(HMAC-SHA256(secret, "v1:" + Socle-Timestamp + ":" + Socle-Delivery + ":" + body))
// over the raw body bytes and compares it with Socle-Signature ("v1=<hex>") in constant time.
// The timestamp and the delivery id are inside the MAC so a captured request cannot be replayed
// later (the receiver refuses old timestamps) or under another id (it keeps the ids it has seen).
// "v1" names the scheme, so a later one can be sent beside it in the same header.

import { createHmac } from "node:crypto";

export const SIGNATURE_VERSION = "v1";

/** The Socle-Signature header value for one attempt. */
export function webhookSignature(secret: string, timestamp: number, deliveryId: string, body: string | Uint8Array): string {
  const mac = createHmac("sha256", secret);
  mac.update(`${SIGNATURE_VERSION}:${timestamp}:${deliveryId}:`);
  mac.update(body);
  return `${SIGNATURE_VERSION}=${mac.digest("hex")}`;
}
