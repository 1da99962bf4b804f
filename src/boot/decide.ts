// THE boot decision, a pure function: what a client (or a machine) boots. Every protocol asks it,
// and so do the render preview and the path index, so each rule below is written here only:
//
//   machine: the one with the client's MAC among its HardwareAddrs, else unknown
//   env:     a known machine's BootEnv, else the defaultBootEnv pref;
//            for unknown machines the unknownBootEnv pref ("discovery", "ignore", any env)
//   loader:  (DHCP) iPXE gets its dispatcher default.ipxe; firmware a loader by arch (loaders.ts),
//            BootEnv.Loaders overriding per arch; a plain OS DHCP client gets none
//   script:  (TFTP, HTTP) the env's template for the loader asking: "ipxe" or "grub"
//
// Unknown machines with unknownBootEnv "ignore" and no `ignore` env stored still get a loader
// from DHCP, as they would from the shipped `ignore` env; its per-MAC script then exits to the
// next boot device. Either way an ignored machine leaves network boot the same way.
//
// No logging, rendering or I/O here: a plan says why it boots nothing, and its caller logs.

import { bootEnvOf } from "../model/prefs.ts";
import type { ModelObject } from "../model/object.ts";
import type { BootData } from "./boot-data.ts";
import type { ClientFacts } from "./booter.ts";
import { grubTemplateOf, ipxeTemplateOf, loadersOf, type EnvTemplate } from "./env-templates.ts";
import { DISPATCH_PATH } from "./ipxe-dispatch.ts";
import { isNetbootClient, loaderFor } from "./loaders.ts";

/** What decide reads. */
export type BootView = Pick<BootData, "machineByMac" | "bootEnv" | "prefs">;

/** What asks, and what it told us. */
export type BootFacts =
  /** DHCP: firmware (PXE, UEFI HTTP boot) or iPXE wants a boot file. */
  | ({ asks: "loader" } & Pick<ClientFacts, "mac" | "arch" | "userClass" | "vendorClass">)
  /** TFTP or HTTP: a loader fetches its per-MAC script (ipxe-dispatch.ts, grub-dispatch.ts). */
  | { asks: "script"; mac: string; loader: "iPXE" | "GRUB" }
  /**
   * The path index and the render preview: which env `machine` renders (undefined: unknown
   * machines). `env` names another env instead (an operator's preview of it).
   */
  | { asks: "env"; machine: ModelObject | undefined; env?: string };

/** What the firmware fetches next, as a path on our file servers. */
export interface LoaderPlan {
  file: string;
  /**
   * "tftp": PXE; "http": UEFI HTTP boot (the answer must say HTTPClient); "ipxe": iPXE, which
   * fetches its dispatcher over HTTP.
   */
  fetch: "tftp" | "http" | "ipxe";
}

export type PlanReason = "not-netboot" | "no-loader" | "ignored" | "no-env" | "no-script";

interface Chosen {
  /** The client's MAC in lower-case colon form; "" when asked about a machine (asks "env"). */
  mac: string;
  machine: ModelObject | undefined;
  /** The env chosen, whether or not it exists; "" when the decision stopped before choosing. */
  envName: string;
}

export type BootPlan =
  /** Boot `env`: DHCP answers `loader`, a loader gets `script` rendered. */
  | (Chosen & { kind: "boot"; env: ModelObject; loader?: LoaderPlan; script?: EnvTemplate })
  /**
   * Leave network boot for the next boot device: DHCP still answers `loader`, whose per-MAC
   * script is then an exit script saying `why`.
   */
  | (Chosen & { kind: "exit"; reason: PlanReason; why: string; loader?: LoaderPlan })
  /** Nothing: no boot answer from DHCP, no env to render. */
  | (Chosen & { kind: "ignore"; reason: PlanReason; why: string });

export const IGNORE_ENV = "ignore";

export function decide(facts: BootFacts, data: BootView): BootPlan {
  const mac = facts.asks === "env" ? "" : facts.mac.toLowerCase();
  if (facts.asks === "loader" && !isNetbootClient(facts, "lease")) {
    return { kind: "ignore", reason: "not-netboot", why: "not a network boot client", mac, machine: undefined, envName: "" };
  }
  const machine = facts.asks === "env" ? facts.machine : data.machineByMac(mac);
  const envName = (facts.asks === "env" ? facts.env : undefined) ?? bootEnvOf(machine, data.prefs());
  const env = data.bootEnv(envName);
  const chosen: Chosen = { mac, machine, envName };

  if (!env) {
    const ignored = !machine && envName === IGNORE_ENV;
    const reason = ignored ? "ignored" : "no-env";
    const why = ignored
      ? `${mac ? `unknown machine ${mac} is` : "unknown machines are"} ignored (unknownBootEnv "${IGNORE_ENV}")`
      : `boot environment "${envName}" of ${machine ? `machine "${nameOf(machine)}"` : "unknown machines"} does not exist`;
    if (facts.asks === "script") return { kind: "exit", reason, why, ...chosen };
    if (facts.asks === "env" || !ignored) return { kind: "ignore", reason, why, ...chosen };
    const loader = loaderOf(facts, undefined);
    return loader ? { kind: "exit", reason, why, loader, ...chosen } : noLoader(facts, chosen);
  }

  switch (facts.asks) {
    case "loader": {
      const loader = loaderOf(facts, env);
      return loader ? { kind: "boot", env, loader, ...chosen } : noLoader(facts, chosen);
    }
    case "script": {
      const script = facts.loader === "iPXE" ? ipxeTemplateOf(env) : grubTemplateOf(env);
      if (script) return { kind: "boot", env, script, ...chosen };
      return { kind: "exit", reason: "no-script", why: `boot environment "${envName}" has no ${facts.loader} template`, ...chosen };
    }
    case "env":
      return { kind: "boot", env, ...chosen };
  }
}

/** How logs and messages name a machine. */
export function nameOf(m: ModelObject | undefined): string {
  return m ? String(m.Name ?? m.Uuid) : "";
}

/** A machine in a log line: its Uuid (what the timeline and the API key on) and its name. */
export function machineLogFields(m: ModelObject | undefined): { machine?: string; name?: string } {
  return m ? { machine: String(m.Uuid ?? ""), name: String(m.Name ?? "") } : {};
}

/** iPXE is asked first, whatever firmware it runs on: it would be handed iPXE again, in a loop. */
function loaderOf(facts: Pick<ClientFacts, "arch" | "userClass">, env: ModelObject | undefined): LoaderPlan | undefined {
  if (facts.userClass === "iPXE") return { file: DISPATCH_PATH, fetch: "ipxe" };
  const l = loaderFor(facts.arch, loadersOf(env));
  return l && { file: l.file, fetch: l.http ? "http" : "tftp" };
}

function noLoader(facts: Pick<ClientFacts, "arch">, chosen: Chosen): BootPlan {
  return { kind: "ignore", reason: "no-loader", why: `no loader for client architecture ${facts.arch ?? 0}`, ...chosen };
}
