// "PXE doctor": plain sentences about why a machine does not boot, each with the events that show
// it. Pure: the rows of one MAC and a few facts from the store in, diagnoses out.

import { ANSWERED, DhcpOutcome, Foreign, HttpOutcome, Kind, TftpOutcome, type Namer } from "./kinds.ts";
import type { TimelineRow } from "./recorder.ts";

export interface Diagnosis {
  Code: string;
  Severity: "error" | "warning" | "info";
  Message: string;
  Fix?: string;
  /** Seqs of the events that show it. */
  Evidence: number[];
}

export interface DiagnoseFacts {
  now: number;
  machine?: { Uuid: string; Name: string; Address: string; Arch: string; BootEnv: string };
  /** Leases this server holds for the MAC(s): only those in ACK and not expired count. */
  leases: { Addr: string; State: string; ExpireTime?: string }[];
  /** The machine's BootEnv, when it has one. */
  bootEnv?: { Name: string; Available: boolean; Problems: string[] };
}

/** A quiet gap this long before a request starts a new boot attempt; older events are history. */
export const ATTEMPT_GAP_MS = 60_000;
/** How long a client has to take the next step before its absence is a finding. */
export const STEP_WAIT_MS = 30_000;

/** Paths firmware and loaders ask for on the chance they exist: their 404 is normal. */
const PROBES = [/^pxelinux\.cfg\//, /(^|\/)autoexec\.ipxe$/, /(^|\/)grub\.cfg-/, /^(boot\/)?grub\/[^/]+\/[^/]+\.(mod|lst)$/, /(^|\/)favicon\.ico$/];

const DISCOVER = 1;
const LOADER_RE = /\.(efi|kpxe|pxe|0|com)$/i;

/** The rows of the newest boot attempt: everything after the last quiet gap of ATTEMPT_GAP_MS. */
export function currentAttempt(rows: readonly TimelineRow[]): TimelineRow[] {
  let start = 0;
  for (let i = 1; i < rows.length; i++) if (rows[i]!.at - rows[i - 1]!.at >= ATTEMPT_GAP_MS) start = i;
  return rows.slice(start);
}

/** The CPU families a client architecture (option 93) can belong to. */
function archFamilies(n: number): string[] | undefined {
  if (n === 0 || n === 6) return ["amd64", "386"];
  if (n === 7 || n === 9 || n === 16) return ["amd64"];
  if (n === 11 || n === 19) return ["arm64"];
  if (n === 10 || n === 18) return ["arm"];
  return undefined;
}

function pathOf(url: string): string {
  try {
    return new URL(url).pathname.replace(/^\/+/, "");
  } catch {
    return url;
  }
}

export function diagnose(all: readonly TimelineRow[], facts: DiagnoseFacts, names: Namer): Diagnosis[] {
  const rows = currentAttempt(all);
  const out: Diagnosis[] = [];
  const dhcp = rows.filter((r) => r.kind === Kind.Dhcp);

  // Another DHCP server answered this client. Beside a proxyDHCP subnet another server hands out
  // the addresses by design: there only one that also names a boot file competes with Socle.
  const proxied = dhcp.some((r) => r.outcome === DhcpOutcome.ProxyOffer || r.outcome === DhcpOutcome.BootServerAck);
  const foreign = rows.filter((r) => r.kind === Kind.DhcpForeign && r.outcome === Foreign.Rogue && (!proxied || r.text !== ""));
  const byServer = new Map<string, TimelineRow[]>();
  for (const r of foreign) byServer.set(r.a || r.b, [...(byServer.get(r.a || r.b) ?? []), r]);
  for (const [server, seen] of byServer) {
    const first = seen[0]!;
    const took = dhcp.filter((r) => r.outcome === DhcpOutcome.OtherServer && r.text === server);
    const offered = [first.addr && first.addr !== "0.0.0.0" ? `address ${first.addr}` : "", first.text ? `boot file ${first.text}` : ""].filter(Boolean).join(" and ");
    out.push({
      Code: "rogue-dhcp",
      Severity: "error",
      Message:
        `Another DHCP server, ${server}${first.b && first.b !== server ? ` (sending from ${first.b})` : ""}, answered this client ${seen.length} time(s)${offered ? `, offering ${offered}` : ""}.` +
        (took.length ? " The client then asked that server for its lease, so it boots from there, not from Socle." : ""),
      Fix: `Stop the server at ${first.b || server} answering on this segment (or make it ignore these clients), or run Socle as proxyDHCP beside it.`,
      Evidence: [...seen, ...took].map((r) => r.seq),
    });
  }

  // A relayed client came from a giaddr that matches no subnet (or a link Socle does not serve).
  const noSubnet = dhcp.filter((r) => r.outcome === DhcpOutcome.NoSubnet);
  if (noSubnet.length) {
    const relays = [...new Set(noSubnet.map((r) => r.c).filter(Boolean))];
    out.push({
      Code: relays.length ? "relay-no-subnet" : "no-subnet",
      Severity: "error",
      Message: relays.length
        ? `Requests relayed by ${relays.join(", ")} match no subnet, so Socle does not answer them (${noSubnet[0]!.text}).`
        : `Requests from this client arrived on a link no subnet covers (${noSubnet[0]!.text}), so Socle does not answer them.`,
      Fix: relays.length
        ? `Create a subnet that contains the relay's address (giaddr ${relays[0]}), or correct the address the relay stamps.`
        : "Create a subnet for the interface's network, or serve it as proxyDHCP.",
      Evidence: noSubnet.map((r) => r.seq),
    });
  }

  const exhausted = dhcp.filter((r) => r.outcome === DhcpOutcome.PoolExhausted);
  if (exhausted.length) {
    out.push({ Code: "pool-exhausted", Severity: "error", Message: `The subnet had no free address for this client (${exhausted[0]!.text}).`, Fix: "Widen the subnet's range, shorten lease times, or reserve an address for this MAC.", Evidence: exhausted.map((r) => r.seq) });
  }
  const unconfirmed = dhcp.filter((r) => r.outcome === DhcpOutcome.Unconfirmed);
  if (unconfirmed.length) {
    out.push({ Code: "lease-unconfirmed", Severity: "warning", Message: `${unconfirmed.length} request(s) went unanswered because the lease could not be made durable in time (${unconfirmed[0]!.text}).`, Fix: "Check the data disk and, in an HA pair, the link to the partner (socle ha status).", Evidence: unconfirmed.map((r) => r.seq) });
  }

  // Files that do not exist, and files that exist but could not be produced or were refused.
  const missing = rows.filter((r) => ((r.kind === Kind.Tftp && r.outcome === TftpOutcome.NotFound) || (r.kind === Kind.Http && r.outcome === HttpOutcome.NotFound)) && !PROBES.some((p) => p.test(r.text)));
  if (missing.length) {
    const paths = [...new Set(missing.map((r) => r.text))];
    out.push({
      Code: "file-missing",
      Severity: "error",
      Message: `The client asked for ${paths.length === 1 ? "a file that does" : `${paths.length} files that do`} not exist: ${paths.slice(0, 5).join(", ")}${paths.length > 5 ? ", ..." : ""}.`,
      Fix: "Upload it (socle files upload), import the BootEnv's ISO, or correct the path in the BootEnv or template that names it; GET /api/v3/info lists boot loaders that are missing. A file of another machine asked from this address is answered as not found too (the server log says so).",
      Evidence: missing.map((r) => r.seq),
    });
  }
  const failed = rows.filter((r) => (r.kind === Kind.Http && r.outcome === HttpOutcome.Failed) || (r.kind === Kind.Tftp && r.outcome === TftpOutcome.Refused));
  if (failed.length) {
    out.push({
      Code: "file-failed",
      Severity: "error",
      Message: `${failed.length === 1 ? "A file" : `${failed.length} files`} could not be served to this client: ${failed[0]!.text}: ${failed[0]!.note || "refused"}.`,
      Fix: "A template that cannot render usually lacks a param: see the error, then set it on the machine, a profile or global.",
      Evidence: failed.map((r) => r.seq),
    });
  }

  // The loader and the script: iPXE told to fetch a script it never asked for, or a loader that
  // was fetched and then the firmware started over (it did not run on this machine).
  const answers = dhcp.filter((r) => ANSWERED.has(r.outcome) && r.text);
  const scriptAnswers = answers.filter((r) => /^https?:\/\//i.test(r.text));
  // Only where the client's address is known (an address this server gave it): its GETs are
  // attributed by that address, and without it their absence proves nothing.
  const lastScript = scriptAnswers.filter((r) => r.addr !== "" && r.addr !== "0.0.0.0").at(-1);
  if (lastScript && facts.now - lastScript.at >= STEP_WAIT_MS) {
    const want = pathOf(lastScript.text);
    const fetched = rows.some((r) => r.kind === Kind.Http && r.seq > lastScript.seq && r.text.replace(/^\/+/, "") === want);
    if (!fetched) {
      out.push({
        Code: "script-not-fetched",
        Severity: "warning",
        Message: `The client was told to fetch its boot script ${lastScript.text} but never asked for it.`,
        Fix: "Check that the client can reach that address and port (a firewall, or --static-port / --disable-static on the server), and that its loader speaks HTTP.",
        Evidence: [lastScript.seq],
      });
    }
  }
  const loaderServed = rows.filter((r) => (r.kind === Kind.Tftp && r.outcome === TftpOutcome.Served) || (r.kind === Kind.Http && r.outcome === HttpOutcome.Served && LOADER_RE.test(r.text)));
  const lastLoader = loaderServed.filter((r) => LOADER_RE.test(r.text)).at(-1);
  if (lastLoader) {
    // The firmware starting over: its PXE or HTTP boot DISCOVERs, with nothing asked for in between
    // (a loader that runs fetches its script, config or kernel; an installer's own DHCP is no PXE).
    const after = dhcp.filter((r) => r.seq > lastLoader.seq && r.type === DISCOVER);
    const fromLoader = after.some((r) => /ipxe/i.test(r.b) || /grub/i.test(r.a));
    const restarts = after.filter((r) => /^(PXEClient|HTTPClient)/.test(r.a) && !/ipxe/i.test(r.b));
    const fetched = rows.some((r) => r.seq > lastLoader.seq && (r.kind === Kind.Tftp || r.kind === Kind.Http) && r.text !== lastLoader.text);
    if (!fromLoader && !fetched && restarts.length >= 2 && restarts[0]!.at - lastLoader.at <= STEP_WAIT_MS) {
      out.push({
        Code: "loader-did-not-run",
        Severity: "error",
        Message: `The loader ${lastLoader.text} was fetched, then the firmware started over ${restarts.length} time(s) without it asking for anything: it did not run on this machine${restarts[0]!.arch >= 0 ? ` (firmware architecture ${restarts[0]!.arch}, ${names.arch(restarts[0]!.arch)})` : ""}.`,
        Fix: "Check that the BootEnv's loader matches the firmware (BIOS: undionly.kpxe; x64 UEFI: ipxe.efi; arm64 UEFI: its arm64 loader) and that Secure Boot is off or the loader is signed.",
        Evidence: [lastLoader.seq, ...restarts.map((r) => r.seq)],
      });
    }
  }

  // The machine's recorded architecture against what its firmware says.
  const arch = dhcp.filter((r) => r.type === DISCOVER && r.arch >= 0).at(-1);
  if (arch && facts.machine?.Arch) {
    const fam = archFamilies(arch.arch);
    if (fam && !fam.includes(facts.machine.Arch)) {
      out.push({
        Code: "arch-mismatch",
        Severity: "warning",
        Message: `The machine is recorded as ${facts.machine.Arch}, but its firmware says ${names.arch(arch.arch)} (option 93 = ${arch.arch}): it gets loaders and images for the wrong architecture.`,
        Fix: `Correct the machine's Arch (socle machines update ${facts.machine.Name || facts.machine.Uuid} '{"Arch":"${fam[0]}"}').`,
        Evidence: [arch.seq],
      });
    }
  }

  if (facts.bootEnv && !facts.bootEnv.Available) {
    out.push({
      Code: "bootenv-unavailable",
      Severity: "error",
      Message: `Its BootEnv "${facts.bootEnv.Name}" is not available: ${facts.bootEnv.Problems.join("; ") || "see the BootEnv's Errors"}.`,
      Fix: `socle bootenvs show ${facts.bootEnv.Name} names what is missing: upload the files or import the ISO it names.`,
      Evidence: missing.map((r) => r.seq),
    });
  }

  const m = facts.machine;
  const active = facts.leases.filter((l) => l.State === "ACK" && !(Date.parse(l.ExpireTime ?? "") <= facts.now));
  if (m?.Address && active.length && !active.some((l) => l.Addr === m.Address)) {
    out.push({
      Code: "address-mismatch",
      Severity: "warning",
      Message: `The machine's Address is ${m.Address}, but its lease is ${active.map((l) => l.Addr).join(", ")}: whatever reaches the machine by its Address (the API's view, tools, its metadata) reaches the wrong host.`,
      Fix: `Set the machine's Address to the leased one, or reserve ${m.Address} for its MAC.`,
      Evidence: dhcp.filter((r) => r.outcome === DhcpOutcome.Ack).map((r) => r.seq),
    });
  }
  return out;
}
