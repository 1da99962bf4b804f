// Workflows, stages and tasks: what a machine goes through, in order.

import { useApi, useDebounced, useEvents } from "../api.ts";
import { ErrorBox, LiveState, Table, show, str } from "../components.tsx";

type Obj = Record<string, unknown>;

export function WorkflowsPage() {
  const workflows = useApi<Obj[]>("/api/v3/workflows?sort=Name");
  const stages = useApi<Obj[]>("/api/v3/stages?sort=Name");
  const tasks = useApi<Obj[]>("/api/v3/tasks?sort=Name");
  const reload = useDebounced(() => {
    workflows.reload();
    stages.reload();
    tasks.reload();
  }, 300);
  const live = useEvents("type=workflows,stages,tasks", reload);
  return (
    <section aria-labelledby="workflows-h">
      <h1 id="workflows-h">
        Workflows, stages and tasks <LiveState state={live} />
      </h1>
      <ErrorBox error={workflows.error} />
      <Table<Obj>
        caption="Workflows"
        rows={workflows.data}
        rowKey={(w) => str(w.Name)}
        empty="No workflows."
        columns={[
          { title: "Name", cell: (w) => <code>{str(w.Name)}</code> },
          { title: "Stages, in order", cell: (w) => show(w.Stages).replaceAll(", ", " → ") },
          { title: "Description", cell: (w) => str(w.Description) },
        ]}
      />
      <ErrorBox error={stages.error} />
      <Table<Obj>
        caption="Stages"
        rows={stages.data}
        rowKey={(s) => str(s.Name)}
        empty="No stages."
        columns={[
          { title: "Name", cell: (s) => <code>{str(s.Name)}</code> },
          { title: "Boot environment", cell: (s) => str(s.BootEnv) },
          { title: "Tasks, in order", cell: (s) => show(s.Tasks).replaceAll(", ", " → ") },
          { title: "Profiles", cell: (s) => show(s.Profiles) },
          { title: "Description", cell: (s) => str(s.Description) },
        ]}
      />
      <ErrorBox error={tasks.error} />
      <Table<Obj>
        caption="Tasks"
        rows={tasks.data}
        rowKey={(t) => str(t.Name)}
        empty="No tasks."
        columns={[
          { title: "Name", cell: (t) => <code>{str(t.Name)}</code> },
          { title: "Actions", cell: (t) => (Array.isArray(t.Templates) ? (t.Templates as Obj[]).map((a) => str(a.Name)).join(", ") : "") },
          { title: "Required params", cell: (t) => show(t.RequiredParams) },
          { title: "Prerequisites", cell: (t) => show(t.Prerequisites) },
          { title: "Description", cell: (t) => str(t.Description) },
        ]}
      />
    </section>
  );
}
