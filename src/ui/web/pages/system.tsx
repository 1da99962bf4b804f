// System: the services and their ports, the addresses this server answers on, the boot loaders
// and images it lacks (each with the command that supplies it), and the HA pair when paired.

import { useApi } from "../api.ts";
import { Badge, ErrorBox, Table, show, str } from "../components.tsx";

type Obj = Record<string, unknown>;

const isRecord = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

function Ha() {
  const ha = useApi<Obj>("/api/v3/ha");
  return (
    <section aria-labelledby="ha-h">
      <h2 id="ha-h">HA pair</h2>
      <ErrorBox error={ha.error} />
      {ha.data && (
        <dl class="facts">
          {Object.entries(ha.data).map(([k, v]) => (
            <>
              <dt key={`${k}-t`}>{k}</dt>
              <dd key={`${k}-d`}>{isRecord(v) || Array.isArray(v) ? <code>{JSON.stringify(v)}</code> : show(v)}</dd>
            </>
          ))}
        </dl>
      )}
    </section>
  );
}

export function SystemPage() {
  const info = useApi<Obj>("/api/v3/info");
  const i = info.data;
  const services = isRecord(i?.Services) ? Object.entries(i.Services).filter((e): e is [string, Obj] => isRecord(e[1])) : [];
  const assets = isRecord(i?.BootAssets) ? i.BootAssets : {};
  const missing = Array.isArray(assets.Missing) ? (assets.Missing as Obj[]) : [];
  const present = Array.isArray(assets.Present) ? (assets.Present as unknown[]) : undefined;
  const features = Array.isArray(i?.Features) ? (i.Features as string[]) : [];
  return (
    <section aria-labelledby="system-h">
      <h1 id="system-h">System</h1>
      <ErrorBox error={info.error} />
      {i && (
        <>
          <dl class="facts">
            <dt>Version</dt>
            <dd>{str(i.Version)}</dd>
            <dt>Host</dt>
            <dd>{str(i.Hostname)}</dd>
            <dt>Address</dt>
            <dd>{str(i.Address)}</dd>
            <dt>Addresses</dt>
            <dd>{show(i.Addresses)}</dd>
            <dt>Ports</dt>
            <dd>
              API {show(i.ApiPort)} · files {show(i.FilePort)} · TFTP {show(i.TftpPort)} · DHCP {show(i.DhcpPort)}
            </dd>
            <dt>Uptime</dt>
            <dd>{show(i.Uptime)} s</dd>
          </dl>
          <Table<[string, Obj]>
            caption="Services"
            rows={services}
            rowKey={([n]) => n}
            columns={[
              { title: "Service", cell: ([n]) => n },
              { title: "Enabled", cell: ([, s]) => <Badge ok={s.Enabled === true} /> },
              { title: "Running", cell: ([, s]) => <Badge ok={s.Running === true} /> },
              { title: "Interfaces / port", cell: ([, s]) => (s.Enabled === true ? show(s.Interfaces ?? s.Port ?? "") : "") },
            ]}
          />
          <h2>Boot loaders and images</h2>
          {present && <p>Present: {present.map((p) => (isRecord(p) ? str(p.Path) : String(p))).join(", ")}</p>}
          <Table<Obj>
            caption="Missing boot assets, with the command that supplies each"
            rows={missing}
            rowKey={(a) => str(a.Path)}
            empty="None missing: every loader and discovery image is present."
            columns={[
              { title: "Path", cell: (a) => <code>{str(a.Path)}</code> },
              { title: "Architecture", cell: (a) => str(a.Arch) },
              { title: "What", cell: (a) => str(a.What) },
              { title: "Fix", cell: (a) => <code>{str(a.Fix)}</code> },
            ]}
          />
          {features.includes("ha") ? <Ha /> : <p class="muted">Not paired (no HA).</p>}
        </>
      )}
    </section>
  );
}
