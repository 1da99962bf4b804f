// Strict parsing of the Authorization header (RFC 7235 framing, RFC 7617 Basic, RFC 6750 Bearer).
// Malformed syntax is a 400 (BadRequest); an unsupported scheme is a 401 (Unauthorized), so the
// client is challenged again. No message ever contains the credentials, only what was wrong.

import { SocleError } from "../model/errors.ts";

export type Credentials =
  | { kind: "basic"; user: string; password: string }
  | { kind: "bearer"; token: string };

/** Longer headers are refused before any decoding. */
export const MAX_AUTHORIZATION_LENGTH = 16 * 1024;

// token68 (RFC 7235 section 2.1), which both Basic's base64 and Bearer tokens are.
const TOKEN68 = /^[A-Za-z0-9\-._~+/]+=*$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
// RFC 7617: user-id and password contain no control characters.
const CONTROL = /[\u0000-\u001f\u007f]/;

const bad = (msg: string) => new SocleError("BadRequest", "authorization", "", `parse Authorization header: ${msg}`);

/**
 * Parse an Authorization header. undefined for no header (anonymous request); credentials
 * otherwise; throws SocleError BadRequest for malformed syntax and Unauthorized for a scheme
 * other than Basic or Bearer.
 */
export function parseAuthorization(header: string | null | undefined): Credentials | undefined {
  if (header === null || header === undefined) return undefined;
  if (header.length > MAX_AUTHORIZATION_LENGTH) {
    throw bad(`${header.length} characters, more than ${MAX_AUTHORIZATION_LENGTH}`);
  }
  const trimmed = header.trim();
  if (trimmed === "") throw bad("empty");
  const m = /^([A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]*)(?: +(.*))?$/.exec(trimmed);
  if (!m) throw bad("no authentication scheme");
  const scheme = m[1] ?? "";
  const cred = m[2] ?? "";
  switch (scheme.toLowerCase()) {
    case "basic":
      return parseBasic(cred);
    case "bearer":
      if (cred === "") throw bad("Bearer scheme without a token");
      if (!TOKEN68.test(cred)) throw bad("Bearer token has characters outside token68");
      return { kind: "bearer", token: cred };
    default:
      // The scheme name is not a credential; quote it (bounded) to help the operator.
      throw new SocleError(
        "Unauthorized",
        "authorization",
        "",
        `unsupported authorization scheme "${scheme.slice(0, 32)}": use Basic or Bearer`,
      );
  }
}

function parseBasic(cred: string): Credentials {
  if (cred === "") throw bad("Basic scheme without credentials");
  if (!BASE64.test(cred)) throw bad("Basic credentials are not valid base64");
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(Buffer.from(cred, "base64"));
  } catch {
    throw bad("Basic credentials are not UTF-8");
  }
  const colon = text.indexOf(":");
  if (colon < 0) throw bad("Basic credentials have no colon between user and password");
  const user = text.slice(0, colon);
  const password = text.slice(colon + 1);
  if (user === "") throw bad("Basic credentials have an empty user name");
  if (CONTROL.test(user) || CONTROL.test(password)) throw bad("Basic credentials contain control characters");
  return { kind: "basic", user, password };
}
