// Events: the server's event stream as it happens, optionally filtered by type and action.

import { useState } from "preact/hooks";
import { useEvents, type StreamMessage } from "../api.ts";
import { LiveState, Table, When } from "../components.tsx";

const KEEP = 200;

export function EventsPage() {
  const [type, setType] = useState("");
  const [action, setAction] = useState("");
  const [applied, setApplied] = useState("");
  const [rows, setRows] = useState<StreamMessage[]>([]);
  const [paused, setPaused] = useState(false);
  const live = useEvents(applied, (m) => {
    if (!paused) setRows((rs) => [m, ...rs].slice(0, KEEP));
  });
  const apply = (e: Event) => {
    e.preventDefault();
    const q = new URLSearchParams();
    if (type.trim()) q.set("type", type.trim());
    if (action.trim()) q.set("action", action.trim());
    setRows([]);
    setApplied(q.toString());
  };
  return (
    <section aria-labelledby="events-h">
      <h1 id="events-h">
        Events <LiveState state={live} />
      </h1>
      <form class="filters" onSubmit={apply} aria-label="Filter events">
        <label>
          Types
          <input name="type" value={type} onInput={(e) => setType(e.currentTarget.value)} placeholder="machines,leases" />
        </label>
        <label>
          Actions
          <input name="action" value={action} onInput={(e) => setAction(e.currentTarget.value)} placeholder="create,update,delete,progress" />
        </label>
        <button type="submit">Apply</button>
        <button type="button" aria-pressed={paused} onClick={() => setPaused(!paused)}>
          {paused ? "Resume" : "Pause"}
        </button>
        <button type="button" onClick={() => setRows([])}>
          Clear
        </button>
      </form>
      <p class="muted" aria-live="polite">
        {rows.length} event{rows.length === 1 ? "" : "s"} shown (newest first, at most {KEEP})
      </p>
      <Table<StreamMessage>
        caption="Events since this page was opened"
        rows={rows}
        rowKey={(m) => `${m.Seq}-${m.Type}-${m.Action}-${m.Key}-${m.Time}`}
        empty="Waiting for events…"
        columns={[
          { title: "Seq", cell: (m) => m.Seq },
          { title: "Time", cell: (m) => <When t={m.Time} /> },
          { title: "Type", cell: (m) => m.Type },
          { title: "Action", cell: (m) => m.Action },
          { title: "Key", cell: (m) => <code>{m.Key}</code> },
          {
            title: "Object",
            cell: (m) => (
              <details>
                <summary>{String(m.Object.Name ?? m.Object.Summary ?? m.Object.State ?? "show")}</summary>
                <pre>{JSON.stringify(m.Object, null, 2)}</pre>
              </details>
            ),
          },
        ]}
      />
    </section>
  );
}
