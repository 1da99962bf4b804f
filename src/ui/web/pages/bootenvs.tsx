// Boot environments and templates: which are usable and which files they miss, and a render
// preview of any of their templates for a machine (or for unknown machines), with the layer each
// parameter came from.

import { useState } from "preact/hooks";
import type { TargetedEvent } from "preact";
import { ApiError, api, enc, useApi, useDebounced, useEvents } from "../api.ts";
import { Badge, ErrorBox, LiveState, Table, str } from "../components.tsx";

type Obj = Record<string, unknown>;

interface RenderAnswer {
  Output: string;
  Params: { Name: string; Value: unknown; Source: string }[];
}

const templateNames = (env: Obj | undefined): string[] =>
  Array.isArray(env?.Templates) ? (env.Templates as Obj[]).map((t) => str(t.Name)).filter((n) => n !== "") : [];

function Preview(props: { envs: Obj[]; templates: Obj[] }) {
  const [env, setEnv] = useState("");
  const [template, setTemplate] = useState("");
  const [machine, setMachine] = useState("");
  const [path, setPath] = useState("");
  const [answer, setAnswer] = useState<RenderAnswer | undefined>(undefined);
  const [error, setError] = useState<ApiError | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const chosenEnv = props.envs.find((e) => e.Name === env);
  const own = templateNames(chosenEnv);
  const submit = async (e: TargetedEvent<HTMLFormElement>) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    const body: Record<string, string> = {};
    if (machine.trim()) body.Machine = machine.trim();
    if (path.trim()) body.Path = path.trim();
    else {
      if (env) body.BootEnv = env;
      body.Template = template;
    }
    try {
      setAnswer(await api<RenderAnswer>("POST", "/api/v3/render", { body }));
    } catch (err) {
      setAnswer(undefined);
      setError(err instanceof ApiError ? err : new ApiError(0, [String(err)]));
    } finally {
      setBusy(false);
    }
  };
  return (
    <section aria-labelledby="preview-h">
      <h2 id="preview-h">Render preview</h2>
      <form class="row" onSubmit={submit} aria-label="Render preview">
        <label>
          Boot environment
          <select name="bootenv" value={env} onChange={(e) => setEnv(e.currentTarget.value)}>
            <option value="">(the machine's)</option>
            {props.envs.map((b) => (
              <option key={str(b.Name)} value={str(b.Name)}>
                {str(b.Name)}
              </option>
            ))}
          </select>
        </label>
        <label>
          Template
          <input name="template" list="template-names" value={template} onInput={(e) => setTemplate(e.currentTarget.value)} placeholder="name or ID" />
          <datalist id="template-names">
            {[...own, ...props.templates.map((t) => str(t.ID))].map((n) => (
              <option key={n} value={n} />
            ))}
          </datalist>
        </label>
        <label>
          Machine (optional)
          <input name="machine" value={machine} onInput={(e) => setMachine(e.currentTarget.value)} placeholder="Uuid or Name:n1" />
        </label>
        <label>
          or a boot file path
          <input name="path" value={path} onInput={(e) => setPath(e.currentTarget.value)} placeholder="boot/52:54:00:….ipxe" />
        </label>
        <button class="primary" type="submit" disabled={busy || (!template && !path)}>
          {busy ? "Rendering…" : "Render"}
        </button>
      </form>
      <div aria-live="polite">
        <ErrorBox error={error} />
        {answer && (
          <>
            <h3>Output</h3>
            <pre tabIndex={0} aria-label="Rendered output">
              {answer.Output}
            </pre>
            <Table
              caption="Parameters the template used, and where each came from"
              rows={answer.Params}
              rowKey={(p) => p.Name}
              empty="The template used no parameters."
              columns={[
                { title: "Name", cell: (p) => <code>{p.Name}</code> },
                { title: "Value", cell: (p) => <code>{typeof p.Value === "string" ? p.Value : JSON.stringify(p.Value)}</code> },
                { title: "From", cell: (p) => p.Source },
              ]}
            />
          </>
        )}
      </div>
    </section>
  );
}

export function BootEnvsPage() {
  const envs = useApi<Obj[]>("/api/v3/bootenvs?sort=Name");
  const templates = useApi<Obj[]>("/api/v3/templates");
  const reload = useDebounced(() => {
    envs.reload();
    templates.reload();
  }, 300);
  const live = useEvents("type=bootenvs,templates", reload);
  const [fetching, setFetching] = useState<string | undefined>(undefined);
  const [fetchError, setFetchError] = useState<ApiError | undefined>(undefined);
  const fetchIso = async (name: string) => {
    setFetchError(undefined);
    setFetching(name);
    try {
      await api("POST", `/api/v3/bootenvs/${enc(name)}/fetch-iso`);
    } catch (e) {
      setFetchError(e instanceof ApiError ? e : new ApiError(0, [String(e)]));
    } finally {
      setFetching(undefined);
    }
  };
  return (
    <section aria-labelledby="bootenvs-h">
      <h1 id="bootenvs-h">
        Boot environments and templates <LiveState state={live} />
      </h1>
      <ErrorBox error={envs.error} />
      <ErrorBox error={fetchError} />
      <Table<Obj>
        caption="Boot environments"
        rows={envs.data}
        rowKey={(b) => str(b.Name)}
        columns={[
          { title: "Name", cell: (b) => <code>{str(b.Name)}</code> },
          { title: "OS", cell: (b) => str((b.OS as Obj | undefined)?.Name) },
          { title: "Available", cell: (b) => <Badge ok={b.Available !== false} /> },
          {
            title: "Missing files and errors",
            cell: (b) => {
              const errs = Array.isArray(b.Errors) ? (b.Errors as unknown[]).map(String) : [];
              return errs.length === 0 ? "" : (
                <ul class="errs">
                  {errs.map((e) => (
                    <li key={e}>{e}</li>
                  ))}
                </ul>
              );
            },
          },
          { title: "Templates", cell: (b) => templateNames(b).join(", ") },
          {
            title: "ISO",
            cell: (b) => {
              const os = (b.OS as Obj | undefined) ?? {};
              if (!str(os.IsoFile)) return "";
              return (
                <span>
                  <code>{str(os.IsoFile)}</code>{" "}
                  {str(os.IsoUrl) && (
                    <button type="button" disabled={fetching !== undefined} onClick={() => fetchIso(str(b.Name))}>
                      {fetching === b.Name ? "Fetching…" : "Fetch ISO"}
                    </button>
                  )}
                </span>
              );
            },
          },
        ]}
      />
      <Preview envs={envs.data ?? []} templates={templates.data ?? []} />
      <ErrorBox error={templates.error} />
      <Table<Obj>
        caption="Templates"
        rows={templates.data}
        rowKey={(t) => str(t.ID)}
        columns={[
          { title: "ID", cell: (t) => <code>{str(t.ID)}</code> },
          { title: "Description", cell: (t) => str(t.Description) },
          { title: "Size", cell: (t) => `${str(t.Contents).length} characters` },
        ]}
      />
    </section>
  );
}
