// The agent as an installed system gets it: the script and its systemd unit and init script
// (assets/agent/), carried in the binary as text. The HTTP/TFTP file chain serves them under
// AGENT_DIR (main.ts), and templates see their SHA-256 (it.Agent), so an installer that fetches
// them over plain HTTP checks them against the digest its own file brought through the boot chain.

import script from "../../assets/agent/socle-agent" with { type: "text" };
import unit from "../../assets/agent/socle-agent.service" with { type: "text" };
import init from "../../assets/agent/socle-agent.init" with { type: "text" };

/** Where the file servers put them: <ProvisionerURL>/socle/agent/<name>. */
export const AGENT_DIR = "socle/agent";

/** name -> content. */
export const AGENT_FILES: ReadonlyMap<string, string> = new Map([
  ["socle-agent", script],
  ["socle-agent.service", unit],
  ["socle-agent.init", init],
]);

let digests: Record<string, string> | undefined;

/** name -> lower-case hex SHA-256 of its content, computed once. */
export function agentDigests(): Readonly<Record<string, string>> {
  digests ??= Object.fromEntries([...AGENT_FILES].map(([name, text]) => [name, new Bun.CryptoHasher("sha256").update(text).digest("hex")]));
  return digests;
}

/** What templates see of them (it.Agent; render/context.ts AgentFacts). */
export function agentFacts(): { Path: string; Sha256: Readonly<Record<string, string>> } {
  return { Path: AGENT_DIR, Sha256: agentDigests() };
}

/** The files as the embedded file source wants them, keyed by request path. */
export function agentFileEntries(): Map<string, Blob> {
  return new Map([...AGENT_FILES].map(([name, text]) => [`${AGENT_DIR}/${name}`, new Blob([text])]));
}
