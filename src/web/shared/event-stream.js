/**
 * Server-Sent Events read with fetch(), so the credential goes in the Authorization header
 * (EventSource cannot send headers, and a credential in a URL would be written to access logs).
 * Reconnects with a growing pause and, as EventSource does, sends the last event's id as
 * `Last-Event-ID`: the server replays what was missed meanwhile (from any instance, for the
 * hour it keeps events). `onStatus('live')` after every (re)connect still lets a page re-read
 * what it shows, for a pause longer than that.
 */

/**
 * @param {string} url
 * @param {{ token: string, onEvent: (type: string, data: any) => void, onStatus?: (s: 'live'|'reconnecting'|'unauthorized') => void }} opts
 * @returns {{ close(): void }}
 */
export function openEventStream(url, opts) {
  let stopped = false;
  let controller = null;
  let pause = 1000;
  let lastEventId = '';

  function dispatch(block) {
    let type = 'message';
    const data = [];
    for (const line of block.split('\n')) {
      if (!line || line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'event') type = value;
      else if (field === 'data') data.push(value);
      else if (field === 'id' && !value.includes('\0')) lastEventId = value;
    }
    if (data.length === 0) return;
    let parsed;
    try {
      parsed = JSON.parse(data.join('\n'));
    } catch {
      parsed = data.join('\n');
    }
    opts.onEvent(type, parsed);
  }

  async function run() {
    while (!stopped) {
      controller = new AbortController();
      try {
        const res = await fetch(url, {
          headers: { authorization: `Bearer ${opts.token}`, accept: 'text/event-stream', ...(lastEventId ? { 'last-event-id': lastEventId } : {}) },
          signal: controller.signal,
          cache: 'no-store',
        });
        if (res.status === 401 || res.status === 403) {
          opts.onStatus?.('unauthorized');
          return;
        }
        if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
        opts.onStatus?.('live');
        pause = 1000;
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer = (buffer + value).replace(/\r\n?/g, '\n');
          let end;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            dispatch(buffer.slice(0, end));
            buffer = buffer.slice(end + 2);
          }
        }
      } catch {
        // Network loss or abort: decided below.
      }
      if (stopped) return;
      opts.onStatus?.('reconnecting');
      await new Promise((r) => setTimeout(r, pause));
      pause = Math.min(pause * 2, 15_000);
    }
  }

  run();
  return {
    close() {
      stopped = true;
      controller?.abort();
    },
  };
}
