// Subnets, reservations and leases: what the DHCP server hands out, live.

import { useDebounced, useApi, useEvents } from "../api.ts";
import { Badge, ErrorBox, LiveState, Table, When, str } from "../components.tsx";

type Obj = Record<string, unknown>;

export function SubnetsPage() {
  const subnets = useApi<Obj[]>("/api/v3/subnets?sort=Name");
  const reservations = useApi<Obj[]>("/api/v3/reservations?sort=Addr");
  const leases = useApi<Obj[]>("/api/v3/leases?sort=Addr");
  const reload = useDebounced(() => {
    subnets.reload();
    reservations.reload();
    leases.reload();
  }, 500);
  const live = useEvents("type=subnets,reservations,leases", reload);
  return (
    <section aria-labelledby="subnets-h">
      <h1 id="subnets-h">
        Subnets, reservations and leases <LiveState state={live} />
      </h1>
      <ErrorBox error={subnets.error} />
      <Table<Obj>
        caption="Subnets"
        rows={subnets.data}
        rowKey={(s) => str(s.Name)}
        empty="No subnets: the DHCP server hands out nothing."
        columns={[
          { title: "Name", cell: (s) => <code>{str(s.Name)}</code> },
          { title: "Network", cell: (s) => str(s.Subnet) },
          { title: "Range", cell: (s) => (str(s.ActiveStart) ? `${str(s.ActiveStart)} – ${str(s.ActiveEnd)}` : "") },
          { title: "Mode", cell: (s) => (s.Proxy ? "proxyDHCP" : s.Unmanaged ? "unmanaged" : s.OnlyReservations ? "reservations only" : "addresses") },
          { title: "Enabled", cell: (s) => <Badge ok={s.Enabled !== false} /> },
          { title: "Next server", cell: (s) => str(s.NextServer) },
        ]}
      />
      <ErrorBox error={reservations.error} />
      <Table<Obj>
        caption="Reservations"
        rows={reservations.data}
        rowKey={(r) => str(r.Addr)}
        empty="No reservations."
        columns={[
          { title: "Address", cell: (r) => str(r.Addr) },
          { title: "MAC", cell: (r) => <code>{str(r.Token)}</code> },
          { title: "Scoped", cell: (r) => (r.Scoped ? "yes" : "no") },
          { title: "Description", cell: (r) => str(r.Description) },
        ]}
      />
      <ErrorBox error={leases.error} />
      <Table<Obj>
        caption="Leases"
        rows={leases.data}
        rowKey={(l) => str(l.Addr)}
        empty="No leases."
        columns={[
          { title: "Address", cell: (l) => str(l.Addr) },
          { title: "Client", cell: (l) => <code>{str(l.Token)}</code> },
          { title: "State", cell: (l) => str(l.State) },
          { title: "Expires", cell: (l) => <When t={l.ExpireTime} /> },
          { title: "Relay", cell: (l) => str(l.Via) },
          { title: "Hostname", cell: (l) => str(l.Hostname) },
        ]}
      />
    </section>
  );
}
