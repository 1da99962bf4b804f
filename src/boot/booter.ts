// What DHCP asks the boot side (the decision itself is decide.ts): the boot fields for this
// client; `undefined` means "do not offer boot information".

/** What the firmware told us about itself, and how it reached us. */
export interface ClientFacts {
  mac: string; // lower-case colon form
  /** Client system architecture (option 93, RFC 4578), first value; undefined if absent. */
  arch: number | undefined;
  /** User class (option 77) as text, e.g. "iPXE"; "" if absent. */
  userClass: string;
  /** Vendor class identifier (option 60), e.g. "PXEClient:Arch:00007:UNDI:003000"; "" if absent. */
  vendorClass: string;
  /** Client machine identifier (option 97) as a lower-case UUID, "" if absent. */
  uuid: string;
  /** Relay agent address (giaddr), "" when direct. */
  relay: string;
  /** The address the client has or is being given, "" if none yet. */
  clientAddress: string;
  /** Our address on the interface the request arrived on (what the client can reach). */
  serverAddress: string;
}

export interface BootAnswer {
  /** siaddr / next-server: where the TFTP loader is fetched from. */
  nextServer: string;
  /** Boot file: a TFTP path ("undionly.kpxe") or, for iPXE and UEFI HTTP boot, a full URL. */
  bootFile: string;
  /** UEFI HTTP boot (arch 16/19): reply with option 60 "HTTPClient". */
  httpClient: boolean;
  /** The client is iPXE: send option 175.176 = 1 (no proxyDHCP wait). */
  ipxe: boolean;
}

export interface Booter {
  dhcpBoot(facts: ClientFacts): BootAnswer | undefined;
}
