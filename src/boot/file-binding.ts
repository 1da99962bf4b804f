// Who may fetch a file rendered for a known machine. Such a file carries that machine's secrets: a
// fresh machine token (it.GenerateToken() in kickstarts, Ignition, the iPXE script's kernel line),
// its root password hash, its Secure params. Paths are no secret (machines/<uuid>/... is printed
// in the machine's iPXE script, MACs are on every broadcast), so the path cannot be the key.
//
// The requester's address is: the file goes to a request whose source is one of the addresses the
// machine holds (BootData.addressesOf: its Address, and every active lease of one of its MACs).
//
// - The lease covers the boot chain: iPXE's first fetch (boot/<mac>.ipxe) comes from the address
//   iPXE was just leased, and so do the installer's (anaconda, the kernel's ip=dhcp) fetches.
// - Relays change nothing: a relayed client's packets reach us from its own leased address; the
//   relay (giaddr, Via) is only on the DHCP path.
// - Address covers machines Socle's DHCP does not serve (static addressing, another DHCP server,
//   proxyDHCP): the operator records it, or registration does.
// - Behind NAT every machine has the NAT's address, so nothing can be told apart: the
//   bindMachineFiles pref turns the check off for such labs.
//
// Files rendered for unknown machines are not bound: they carry a registration token, which can
// only register a MAC no machine has (routes-register.ts), and discovery must reach anyone.

/**
 * The address as we compare it: an IPv4-mapped IPv6 source ("::ffff:198.51.100.7", what a dual
 * stack listener on "::" reports for an IPv4 client) is the IPv4 address; otherwise lower case.
 */
export function comparableAddress(address: string): string {
  const a = address.trim().toLowerCase();
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/.exec(a);
  return mapped ? mapped[1]! : a;
}

/** Whether a request from `remote` comes from one of `addresses` (those of the file's machine). */
export function isFromMachine(remote: string, addresses: readonly string[]): boolean {
  const r = comparableAddress(remote);
  return r !== "" && addresses.some((a) => comparableAddress(a) === r);
}
