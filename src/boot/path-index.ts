// Which rendered file lives at which path. Template paths are templates themselves
// (`<%= it.Machine.MacAddr("ipxe") %>.ipxe`), so the index is built by rendering every path of
// every machine's boot environment, and of the unknown-machine environment with no Machine.
// Entries are grouped by owner (one machine, or "unknown") so that one machine's change replaces
// only its own paths.
//
// Two owners may render the same path (two machines in an env with a fixed path). Selection is
// dumb and deterministic: machine owners before "unknown", then the smaller Uuid.

export interface IndexEntry {
  /** Machine Uuid, or undefined for the unknown-machine environment. */
  machine: string | undefined;
  env: string;
  /** Name of the template entry in env.Templates. */
  template: string;
}

export const UNKNOWN_OWNER = "~unknown"; // sorts after every machine Uuid (hex digits and "-")

export class PathIndex {
  private readonly byOwner = new Map<string, Map<string, IndexEntry>>();
  private readonly byPath = new Map<string, Set<string>>();

  /** Replace all paths of `owner`. Returns the paths other owners already hold (conflicts). */
  replace(owner: string, entries: Map<string, IndexEntry>): string[] {
    this.remove(owner);
    const conflicts: string[] = [];
    for (const path of entries.keys()) {
      let owners = this.byPath.get(path);
      if (!owners) this.byPath.set(path, (owners = new Set()));
      if (owners.size > 0) conflicts.push(path);
      owners.add(owner);
    }
    if (entries.size > 0) this.byOwner.set(owner, entries);
    return conflicts;
  }

  remove(owner: string): void {
    const old = this.byOwner.get(owner);
    if (!old) return;
    for (const path of old.keys()) {
      const owners = this.byPath.get(path);
      owners?.delete(owner);
      if (owners && owners.size === 0) this.byPath.delete(path);
    }
    this.byOwner.delete(owner);
  }

  clear(): void {
    this.byOwner.clear();
    this.byPath.clear();
  }

  lookup(path: string): IndexEntry | undefined {
    const owners = this.byPath.get(path);
    if (!owners || owners.size === 0) return undefined;
    let best: string | undefined;
    for (const o of owners) if (best === undefined || o < best) best = o;
    return this.byOwner.get(best!)?.get(path);
  }

  /** Every (path, entry) served, sorted by path: for listings and tests. */
  entries(): Array<{ path: string } & IndexEntry> {
    return [...this.byPath.keys()].sort().map((path) => ({ path, ...this.lookup(path)! }));
  }

  owners(): string[] {
    return [...this.byOwner.keys()];
  }

  get size(): number {
    return this.byPath.size;
  }
}
