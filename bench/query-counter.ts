/**
 * Counts SQL statements sent by every pg client in this process (the store's pool and the job
 * scheduler's), by wrapping pg.Client#query. Measurement only: each statement is a database
 * round trip, and round trips are what a knock costs most. With `byText` it also tallies
 * statements by their opening words, to show where the round trips come from.
 */
import pg from 'pg';

let count = 0;
let installed = false;
let byText: Map<string, number> | null = null;

function label(arg: unknown): string {
  const text = typeof arg === 'string' ? arg : typeof arg === 'object' && arg !== null ? String((arg as { text?: unknown }).text ?? '') : '';
  return text.replace(/\s+/g, ' ').trim().slice(0, 70);
}

export function installQueryCounter(opts: { byText?: boolean } = {}): void {
  if (opts.byText) byText ??= new Map();
  if (installed) return;
  installed = true;
  const proto = pg.Client.prototype as unknown as { query: (...args: unknown[]) => unknown };
  const original = proto.query;
  proto.query = function (this: unknown, ...args: unknown[]) {
    count += 1;
    if (byText) {
      const k = label(args[0]);
      byText.set(k, (byText.get(k) ?? 0) + 1);
    }
    return original.apply(this, args);
  };
}

export function queriesSoFar(): number {
  return count;
}

/** Statement counts by opening words since the last call (empty unless installed with byText). */
export function takeStatementTally(): Record<string, number> {
  if (!byText) return {};
  const out = Object.fromEntries([...byText].sort((a, b) => b[1] - a[1]));
  byText.clear();
  return out;
}
