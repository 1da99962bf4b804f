// node-forge, loaded on first use. Certificates are read with node:crypto's X509Certificate;
// forge is needed only to build them (the CA and server certificates on a first start, machine and
// HA node certificates), to check a CSR and to write a CRL. A server whose PKI is already on disk
// never loads its ~40 modules (about 1.3 MB of a running server's RSS). The require is synchronous
// so the builders stay synchronous, and the module cache makes every caller, concurrent first ones
// included, share one load.

import type forgeModule from "node-forge";

export type Forge = typeof forgeModule;

let loaded: Forge | undefined;

export function nodeForge(): Forge {
  return (loaded ??= require("node-forge") as Forge);
}
