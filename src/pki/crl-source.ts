// The CRL on the boot file server: <ProvisionerURL>/socle/crl.pem and /socle/crl.der, for
// machines and tools that check a machine certificate without API access. Unauthenticated:
// a CRL is signed by the CA and public by nature.

import type { BootFile, StaticFileSource } from "../files/file-source.ts";
import type { MachineCa } from "./machine-ca.ts";

export const CRL_FILE_PEM = "socle/crl.pem";
export const CRL_FILE_DER = "socle/crl.der";

export function crlFileSource(mca: MachineCa): StaticFileSource {
  const file = (bytes: Uint8Array, contentType: string): BootFile => ({
    size: bytes.length,
    contentType,
    read: (start, end) => new Blob([bytes]).slice(start ?? 0, end ?? bytes.length).stream(),
  });
  return {
    async get(path: string) {
      if (path === CRL_FILE_PEM) return file(new TextEncoder().encode(mca.crlPem()), "application/x-pem-file");
      if (path === CRL_FILE_DER) return file(new Uint8Array(mca.crlDer()), "application/pkix-crl");
      return undefined;
    },
    async exists(path: string) {
      return path === CRL_FILE_PEM || path === CRL_FILE_DER;
    },
  };
}
