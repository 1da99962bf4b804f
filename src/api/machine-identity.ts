// When a machine's certificates are revoked (pki/machine-ca.ts does it, this decides when), from
// the store's change feed, so that every way of changing a machine (the API, a workflow, the CLI)
// is covered by one rule:
// - the machine is deleted: "deleted";
// - its Secret changes (POST /machines/<uuid>/revoke, which also ends its tokens): "revoked";
// - it is reprovisioned, i.e. its BootEnv changes to a named environment other than `local` (an
//   installer or discovery): what ran on it is being replaced, and the new system gets a new
//   certificate (the agent's CSR, or MachineCert() in the config it is installed with). Going to
//   `local` (an install finished) keeps them;
// - its Name changes: the old name is in the certificates (DNS SAN, CN), and another machine may
//   be given it ("reprovisioned", superseded).
// A revocation that cannot be written is retried every RETRY_MS until it is: in memory the
// certificates are refused at once, and a restart must not forget them.

import type { Logger } from "../log/logger.ts";
import { fieldString, type ModelObject } from "../model/object.ts";
import type { Store } from "../store/store.ts";
import type { MachineCa, RevokeReason } from "../pki/machine-ca.ts";

interface Seen {
  secret: string;
  bootEnv: string;
  name: string;
}

const seenOf = (m: ModelObject): Seen => ({ secret: fieldString(m.Secret), bootEnv: fieldString(m.BootEnv), name: fieldString(m.Name) });

const RETRY_MS = 5000;

/** Why a change from `before` to `after` revokes the machine's certificates, or undefined. */
export function revocationReason(before: Seen | undefined, after: Seen | undefined): RevokeReason | undefined {
  if (after === undefined) return "deleted";
  if (before === undefined) return undefined;
  if (before.secret !== after.secret) return "revoked";
  if (after.bootEnv !== before.bootEnv && after.bootEnv !== "" && after.bootEnv !== "local") return "reprovisioned";
  if (after.name !== before.name) return "reprovisioned";
  return undefined;
}

/** Revoke as the store changes; returns the unsubscribe function. */
export function watchMachineIdentity(store: Store, mca: MachineCa, log: Logger): () => void {
  const seen = new Map<string, Seen>();
  // Three field scans rather than a list, which at start-up with 100k machines would order and
  // freeze them all before the server answers; the fields are strings, so nothing is frozen.
  store.scanField("machines", "Secret", (uuid, v) => seen.set(uuid, { secret: fieldString(v), bootEnv: "", name: "" }));
  store.scanField("machines", "BootEnv", (uuid, v) => {
    const s = seen.get(uuid);
    if (s) s.bootEnv = fieldString(v);
  });
  store.scanField("machines", "Name", (uuid, v) => {
    const s = seen.get(uuid);
    if (s) s.name = fieldString(v);
  });
  let stopped = false;
  const timers = new Set<ReturnType<typeof setTimeout>>();
  const unsubscribe = store.subscribe((change) => {
    if (change.Type !== "machines") return;
    const uuid = String(change.Object.Uuid ?? change.Key);
    const before = seen.get(uuid);
    const after = change.Action === "delete" ? undefined : seenOf(change.Object);
    if (after) seen.set(uuid, after);
    else seen.delete(uuid);
    const reason = revocationReason(before, after);
    if (!reason) return;
    const attempt = (first: boolean): void => {
      mca.revokeMachine(uuid, reason, !first).catch((err) => {
        if (first) log.error("could not record the revocation of a machine's certificates; refused meanwhile, retried until recorded", { machine: uuid, reason, error: (err as Error).message });
        if (!stopped) timers.add(setTimeout(() => attempt(false), RETRY_MS));
      });
    };
    attempt(true);
  });
  return () => {
    stopped = true;
    for (const t of timers) clearTimeout(t);
    unsubscribe();
  };
}
