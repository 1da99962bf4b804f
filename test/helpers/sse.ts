// Reading a server-sent events stream in tests: the data events, parsed, until `count` arrived or
// `ms` passed (gap notices skipped). The reader is cancelled before it returns.

export async function readSse(res: Response, count: number, ms = 5000): Promise<any[]> {
  const reader = res.body!.getReader();
  const dec = new TextDecoder();
  const out: any[] = [];
  let buf = "";
  const deadline = Date.now() + ms;
  while (out.length < count && Date.now() < deadline) {
    const r = await Promise.race([reader.read(), Bun.sleep(deadline - Date.now()).then(() => ({ done: true, value: undefined }))]);
    if (r.done) break;
    buf += dec.decode(r.value as Uint8Array);
    let i: number;
    while ((i = buf.indexOf("\n\n")) >= 0) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 2);
      const data = block.split("\n").find((l) => l.startsWith("data: "));
      if (data && !block.includes("event: gap")) out.push(JSON.parse(data.slice(6)));
    }
  }
  await reader.cancel().catch(() => {});
  return out;
}
