// Machines: the list with the API's filters, kept current by the event stream.

import { useState } from "preact/hooks";
import { enc, useApi, useDebounced, useEvents } from "../api.ts";
import { ErrorBox, Link, LiveState, Table, show, str } from "../components.tsx";

type Machine = Record<string, unknown>;

const FILTERS = [
  { field: "Name", label: "Name" },
  { field: "Address", label: "Address" },
  { field: "BootEnv", label: "Boot environment" },
  { field: "Workflow", label: "Workflow" },
] as const;

/** The list query: each filled field as the API takes it (a value, or Re(...), Between(a,b)...). */
export function listQuery(values: Record<string, string>): string {
  const q = new URLSearchParams();
  for (const f of FILTERS) {
    const v = (values[f.field] ?? "").trim();
    if (v !== "") q.set(f.field, v);
  }
  q.set("sort", "Name");
  return q.toString();
}

export function MachinesPage() {
  const [values, setValues] = useState<Record<string, string>>({});
  const query = listQuery(values);
  const list = useApi<Machine[]>(`/api/v3/machines?${query}`);
  const [changes, setChanges] = useState(0);
  // The server applies the filters: a change anywhere reloads the filtered list, once per burst.
  const reload = useDebounced(() => {
    list.reload();
    setChanges((n) => n + 1);
  }, 250);
  const live = useEvents("type=machines", reload);
  const rows = list.data;
  return (
    <section aria-labelledby="machines-h">
      <h1 id="machines-h">
        Machines <LiveState state={live} />
      </h1>
      <form class="filters" role="search" aria-label="Filter machines" onSubmit={(e) => e.preventDefault()}>
        {FILTERS.map((f) => (
          <label key={f.field}>
            {f.label}
            <input
              name={f.field}
              value={values[f.field] ?? ""}
              placeholder="value or Re(…)"
              onInput={(e) => setValues({ ...values, [f.field]: e.currentTarget.value })}
            />
          </label>
        ))}
      </form>
      <ErrorBox error={list.error} />
      <p class="muted" aria-live="polite">
        {rows ? `${rows.length} machine${rows.length === 1 ? "" : "s"}` : ""}
        {changes > 0 ? ` · updated live (${changes})` : ""}
      </p>
      <Table<Machine>
        caption="Machines"
        rows={rows}
        rowKey={(m) => str(m.Uuid)}
        empty="No machine matches."
        columns={[
          { title: "Name", cell: (m) => <Link href={`/machines/${enc(str(m.Uuid))}`}>{str(m.Name) || str(m.Uuid)}</Link> },
          { title: "Address", cell: (m) => str(m.Address) },
          { title: "MACs", cell: (m) => show(m.HardwareAddrs) },
          { title: "Boot environment", cell: (m) => str(m.BootEnv) },
          { title: "Workflow", cell: (m) => str(m.Workflow) },
          { title: "Stage", cell: (m) => str(m.Stage) },
          { title: "Runnable", cell: (m) => (m.Runnable === undefined ? "" : m.Runnable ? "yes" : "no") },
          { title: "Available", cell: (m) => (m.Available === false ? <span class="badge bad">no</span> : <span class="badge ok">yes</span>) },
        ]}
      />
    </section>
  );
}
