// Files and ISOs: the boot file tree and the ISO area, uploads with a progress bar, and the
// progress of ISO imports (fetch and explode) as the event stream reports them.

import { useState } from "preact/hooks";
import type { TargetedEvent } from "preact";
import { ApiError, api, upload, useApi, useEvents, type StreamMessage } from "../api.ts";
import { ErrorBox, LiveState, Table, str } from "../components.tsx";

type Obj = Record<string, unknown>;
type Area = "files" | "isos";

/** The API path of a file: each segment escaped, the slashes kept. */
export function filePath(area: Area, rel: string): string {
  return `/api/v3/${area}/${rel.split("/").filter(Boolean).map(encodeURIComponent).join("/")}`;
}

const size = (n: number) => (n >= 1 << 30 ? `${(n / (1 << 30)).toFixed(2)} GiB` : n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MiB` : n >= 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${n} B`);

function Upload(props: { area: Area; dir: string; done: () => void }) {
  const [file, setFile] = useState<File | undefined>(undefined);
  const [target, setTarget] = useState("");
  const [progress, setProgress] = useState<{ sent: number; total: number } | undefined>(undefined);
  const [result, setResult] = useState<string | undefined>(undefined);
  const [error, setError] = useState<ApiError | undefined>(undefined);
  const id = `upload-${props.area}`;
  const submit = async (e: TargetedEvent<HTMLFormElement>) => {
    e.preventDefault();
    if (!file) return;
    const rel = target.trim() || (props.area === "isos" ? file.name : `${props.dir}${file.name}`);
    setError(undefined);
    setResult(undefined);
    setProgress({ sent: 0, total: file.size });
    try {
      const answer = (await upload(filePath(props.area, rel), file, (sent, total) => setProgress({ sent, total }))) as Obj | undefined;
      const exploded = Array.isArray(answer?.Exploded) ? (answer.Exploded as Obj[]) : [];
      setResult(
        `Uploaded ${str(answer?.Path) || rel} (${size(Number(answer?.Size ?? file.size))}, SHA-256 ${str(answer?.Sha256).slice(0, 16)}…)` +
          (exploded.length ? `; exploded for ${exploded.map((x) => `${str(x.BootEnv)}${x.Error ? ` (failed: ${str(x.Error)})` : ""}`).join(", ")}` : ""),
      );
      props.done();
    } catch (err) {
      setError(err instanceof ApiError ? err : new ApiError(0, [String(err)]));
    }
  };
  const pct = progress && progress.total > 0 ? Math.floor((progress.sent / progress.total) * 100) : 0;
  return (
    <form class="row" onSubmit={submit} aria-label={props.area === "isos" ? "Upload an ISO" : "Upload a file"}>
      <label>
        {props.area === "isos" ? "ISO image" : "File"}
        <input id={id} name="file" type="file" onChange={(e) => setFile(e.currentTarget.files?.[0])} />
      </label>
      <label>
        Save as (optional)
        <input name="target" value={target} onInput={(e) => setTarget(e.currentTarget.value)} placeholder={props.area === "isos" ? "name.iso" : `${props.dir}name`} />
      </label>
      <button class="primary" type="submit" disabled={!file || (progress !== undefined && progress.sent < progress.total && !result && !error)}>
        Upload
      </button>
      {progress && (
        <label>
          Upload progress
          <progress max={100} value={pct} aria-valuetext={`${pct}%`}>
            {pct}%
          </progress>
          <span class="muted" aria-live="polite">
            {pct}% · {size(progress.sent)} of {size(progress.total)}
          </span>
        </label>
      )}
      <div aria-live="polite" style="flex-basis:100%">
        {result && <p>{result}</p>}
        <ErrorBox error={error} />
      </div>
    </form>
  );
}

function FileArea(props: { area: Area; title: string }) {
  const [dir, setDir] = useState("");
  const list = useApi<string[]>(`/api/v3/${props.area}${props.area === "files" && dir ? `?path=${encodeURIComponent(dir)}` : ""}`);
  const [error, setError] = useState<ApiError | undefined>(undefined);
  const remove = async (rel: string) => {
    if (!confirm(`Delete ${rel}?`)) return;
    try {
      await api("DELETE", filePath(props.area, rel));
      list.reload();
    } catch (e) {
      setError(e instanceof ApiError ? e : new ApiError(0, [String(e)]));
    }
  };
  const entries = (list.data ?? []).map((name) => ({ name, isDir: name.endsWith("/") }));
  return (
    <section aria-labelledby={`${props.area}-h`}>
      <h2 id={`${props.area}-h`}>{props.title}</h2>
      {props.area === "files" && (
        <p>
          Folder: <code>/{dir}</code>{" "}
          {dir && (
            <button type="button" onClick={() => setDir(dir.replace(/[^/]+\/$/, ""))}>
              Up
            </button>
          )}
        </p>
      )}
      <Upload area={props.area} dir={dir} done={list.reload} />
      <ErrorBox error={list.error ?? error} />
      <Table
        caption={props.area === "files" ? `Files in /${dir}` : "ISO images"}
        rows={list.data === undefined ? undefined : entries}
        rowKey={(e) => e.name}
        empty="Empty."
        columns={[
          {
            title: "Name",
            cell: (e) =>
              e.isDir ? (
                <button type="button" onClick={() => setDir(`${dir}${e.name}`)}>
                  {e.name}
                </button>
              ) : (
                <code>{e.name}</code>
              ),
          },
          {
            title: "Actions",
            cell: (e) => (
              <button type="button" onClick={() => remove(`${dir}${e.name}`)} aria-label={`Delete ${e.name}`}>
                Delete
              </button>
            ),
          },
        ]}
      />
    </section>
  );
}

interface Progress {
  key: string;
  Iso: string;
  BootEnv: string;
  State: string;
  Bytes?: number;
  TotalBytes?: number;
  Files?: number;
  TotalFiles?: number;
  Error?: string;
}

function ImportProgress() {
  const [rows, setRows] = useState<Progress[]>([]);
  const onEvent = (m: StreamMessage) => {
    if (m.Type !== "isos" || m.Action !== "progress") return;
    const o = m.Object;
    const p: Progress = {
      key: `${str(o.Iso)}|${str(o.BootEnv)}`,
      Iso: str(o.Iso),
      BootEnv: str(o.BootEnv),
      State: str(o.State),
      ...(typeof o.Bytes === "number" ? { Bytes: o.Bytes } : {}),
      ...(typeof o.TotalBytes === "number" ? { TotalBytes: o.TotalBytes } : {}),
      ...(typeof o.Files === "number" ? { Files: o.Files } : {}),
      ...(typeof o.TotalFiles === "number" ? { TotalFiles: o.TotalFiles } : {}),
      ...(typeof o.Error === "string" ? { Error: o.Error } : {}),
    };
    setRows((rs) => [p, ...rs.filter((r) => r.key !== p.key)].slice(0, 20));
  };
  const live = useEvents("type=isos&action=progress", onEvent);
  return (
    <section aria-labelledby="imports-h">
      <h2 id="imports-h">
        ISO imports <LiveState state={live} />
      </h2>
      <Table<Progress>
        caption="ISO fetches and explodes seen since this page was opened"
        rows={rows}
        rowKey={(r) => r.key}
        empty="None since this page was opened."
        columns={[
          { title: "ISO", cell: (r) => <code>{r.Iso}</code> },
          { title: "Boot environment", cell: (r) => r.BootEnv },
          { title: "State", cell: (r) => r.State + (r.Error ? `: ${r.Error}` : "") },
          {
            title: "Progress",
            cell: (r) => {
              const pct = r.TotalBytes ? Math.floor(((r.Bytes ?? 0) / r.TotalBytes) * 100) : r.State === "done" ? 100 : 0;
              return (
                <span>
                  <progress max={100} value={pct} aria-label={`${r.Iso} ${r.State}`} /> {pct}%
                  {r.TotalFiles ? ` · ${r.Files ?? 0}/${r.TotalFiles} files` : ""}
                </span>
              );
            },
          },
        ]}
      />
    </section>
  );
}

export function FilesPage() {
  return (
    <section aria-labelledby="files-page-h">
      <h1 id="files-page-h">Files and ISOs</h1>
      <ImportProgress />
      <FileArea area="files" title="Boot files" />
      <FileArea area="isos" title="ISO images" />
    </section>
  );
}
