// What a metadata service (http/metaldata.ts: LinuxKit's "metaldata" provider, EC2-style paths)
// tells a machine about itself, and which machine is asking.
//
// Such a service has no path that names the machine and no secret: the client asks
// http://metaldata/get/meta/hostname or http://169.254.169.254/latest/user-data and nothing else.
// So the request's source address is the identity, through the same rule as per-machine files
// (file-binding.ts): the machine whose Address, or the address of an active lease of one of its
// MACs, is that source. Two differences from files:
// - Nothing else can identify the machine, so the bindMachineFiles pref (off behind NAT) does not
//   apply: behind NAT every machine has one address, which is ambiguous, and ambiguous is refused.
// - An address held by two machines (a stale Address on one, a lease on another) answers nothing:
//   guessing would hand one machine's user data to the other.

import type { Logger } from "../log/logger.ts";
import { rateLimited } from "../log/logger.ts";
import { fieldString, fieldStrings, type ModelObject } from "../model/object.ts";
import { METALDATA_PARAMS } from "../osconfig/metaldata.ts";
import { hostLabel } from "../osconfig/read.ts";
import { openedValue, type ParamCipher } from "../model/secure-params.ts";
import type { BootData } from "./boot-data.ts";
import { nameOf } from "./decide.ts";
import { comparableAddress, isFromMachine } from "./file-binding.ts";
import { resolveFor } from "./render-context.ts";

/** The params a metadata answer reads (bootenvs/linuxkit/params, common/params). */
export const METADATA_PARAMS = { ...METALDATA_PARAMS, accessKeys: "access-keys", dnsDomain: "dns-domain" } as const;

/** One machine as its metadata service describes it. Absent fields are answered "not found". */
export interface MachineMetadata {
  uuid: string;
  /** The short host name (it.Machine.HostName, osconfig/read.ts hostLabel: what every installer writes). */
  hostname(): Promise<string | undefined>;
  /** dns-domain ("" when unset): EC2's hostname and local-hostname are <hostname>.<dns-domain>. */
  dnsDomain: string;
  /** The source address the request came from: one of the machine's own. */
  address: string;
  publicIpv4?: string;
  failureDomain?: string;
  /** machine-type, else the machine's Arch; undefined when neither is set. */
  machineType?: string;
  /** access-keys values, ordered by their labels. */
  accessKeys: Array<{ label: string; key: string }>;
  userData?: string;
}

export interface MetadataSource {
  /** The machine that holds `remoteAddress`, described; undefined for none, or for more than one. */
  byAddress(remoteAddress: string): MachineMetadata | undefined;
}

export interface MetadataSourceOptions {
  data: BootData;
  /** Opens sealed values of the params above (linuxkit-user-data may be Secure). */
  cipher?: ParamCipher;
  log: Logger;
}

const WANTED = new Set<string>(Object.values(METADATA_PARAMS));

export function metadataSource(opts: MetadataSourceOptions): MetadataSource {
  const { data, log } = opts;
  const warn = rateLimited(log, 60_000, 1);

  const holder = (remote: string): ModelObject | undefined => {
    if (comparableAddress(remote) === "") return undefined;
    let found: ModelObject | undefined;
    for (const m of data.machines()) {
      if (!isFromMachine(remote, data.addressesOf(m))) continue;
      if (found) {
        warn(`ambiguous:${comparableAddress(remote)}`, "metadata: address held by more than one machine, answered as not found", {
          remote,
          machines: `${nameOf(found)},${nameOf(m)}`,
          fix: "clear the stale Address (or lease) so that one machine holds the address",
        });
        return undefined;
      }
      found = m;
    }
    return found;
  };

  return {
    byAddress(remote) {
      const machine = holder(remote);
      if (!machine) return undefined;
      // Only the values answered here are opened; a sealed value the answer does not need stays sealed.
      const resolved = resolveFor(data, machine, (value, name, owner) => (WANTED.has(name) ? openedValue(opts.cipher, owner, name, value) : value));
      const text = (name: string): string | undefined => {
        const v = resolved.get(name)?.value;
        return typeof v === "string" && v !== "" ? v : undefined;
      };
      const keys = resolved.get(METADATA_PARAMS.accessKeys)?.value;
      const accessKeys =
        typeof keys === "object" && keys !== null && !Array.isArray(keys)
          ? Object.entries(keys as Record<string, unknown>)
              .filter((e): e is [string, string] => typeof e[1] === "string" && e[1].trim() !== "")
              .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
              .map(([label, key]) => ({ label, key: key.trim() }))
          : [];
      const arch = fieldString(machine.Arch);
      return {
        uuid: fieldString(machine.Uuid),
        hostname: async () => hostLabel(fieldString(machine.Name), fieldStrings(machine.HardwareAddrs)),
        dnsDomain: text(METADATA_PARAMS.dnsDomain) ?? "",
        address: comparableAddress(remote),
        publicIpv4: text(METADATA_PARAMS.publicIpv4),
        failureDomain: text(METADATA_PARAMS.failureDomain),
        machineType: text(METADATA_PARAMS.machineType) ?? (arch !== "" ? arch : undefined),
        accessKeys,
        userData: text(METADATA_PARAMS.userData),
      };
    },
  };
}
