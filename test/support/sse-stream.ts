/** Live event streams (SSE) read in tests as a browser's EventSource would: frames with their ids. */

export interface Frame {
  id: number | null;
  type: string;
  data: any;
}

/** An SSE stream read as a browser's EventSource would (ids kept), with a Bearer credential. */
export function openStream(url: string, token: string, lastEventId?: number) {
  const controller = new AbortController();
  const frames: Frame[] = [];
  let status = 0;
  let connected = false;
  const headers: Record<string, string> = { authorization: `Bearer ${token}` };
  if (lastEventId !== undefined) headers['last-event-id'] = String(lastEventId);
  const done = (async () => {
    const res = await fetch(url, { headers, signal: controller.signal });
    status = res.status;
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    for (;;) {
      const { value, done: end } = await reader.read();
      if (end) return;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf('\n\n')) >= 0) {
        const frame = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        if (frame.startsWith(': connected')) connected = true;
        const id = /^id: (\d+)$/m.exec(frame)?.[1];
        const type = /^event: (.*)$/m.exec(frame)?.[1];
        const data = /^data: (.*)$/m.exec(frame)?.[1];
        if (type && data) frames.push({ id: id ? Number(id) : null, type, data: JSON.parse(data) });
      }
    }
  })().catch(() => undefined);
  return {
    frames,
    status: () => status,
    isConnected: () => connected,
    states: (requestId: string) => frames.filter((f) => f.type === 'request.changed' && f.data.requestId === requestId).map((f) => f.data.state as string),
    async close() {
      controller.abort();
      await done;
    },
  };
}
