/**
 * Prepared statements shared by every client of the PGlite wire server.
 *
 * Clients such as the job scheduler send each statement unnamed (Parse, Bind, Execute, Sync), so
 * PostgreSQL parses and plans it every time; on PGlite's single backend that was about a third of
 * the cost of a job's bookkeeping. Here an unnamed Parse of a plain DML statement is turned into
 * a named statement kept on the backend, keyed by its text and parameter types; the next Parse of
 * the same text is answered with ParseComplete without reaching the backend, and the Bind that
 * follows names the kept statement. The names are ours (one namespace for the shared session), so
 * clients cannot collide. Clients' own named statements pass through untouched.
 *
 * A kept statement must not outlive a schema change (PostgreSQL would refuse it: "cached plan
 * must not change result type"), so any statement that may change the schema or the session
 * (DDL, SET, DO, DEALLOCATE, DISCARD …) forgets them all; they are deallocated once the backend is
 * outside a transaction. A refusal of that kind (0A000) also forgets the statement, as a backstop.
 */

const MSG_PARSE = 0x50; // 'P'
const MSG_BIND = 0x42; // 'B'
const MSG_DESCRIBE = 0x44; // 'D'
const MSG_QUERY = 0x51; // 'Q'
const PARSE_COMPLETE = Buffer.from([0x31, 0, 0, 0, 4]);

/** Statements worth keeping: the DML an application repeats. */
const CACHEABLE = /^\s*(SELECT|INSERT|UPDATE|DELETE|WITH)\b/i;
/** Statements after which kept plans may be wrong: schema or session changes. */
const INVALIDATES = /(?:^|;)\s*(ALTER|CREATE|DROP|TRUNCATE|COMMENT|GRANT|REVOKE|SET|RESET|DO|DEALLOCATE|DISCARD|REINDEX|CLUSTER|VACUUM|IMPORT|SECURITY)\b/i;
const MAX_STATEMENTS = 500;

/** One message to run, or a reply given in its place; callbacks learn how the backend took it. */
export interface Step {
  message: Buffer | null;
  reply?: Buffer;
  onSuccess?: () => void;
  onError?: (sqlState: string) => void;
}

/** Per-client state: the kept statement its unnamed statement currently stands for. */
export interface ClientStatements {
  unnamed: string | null;
}

export class StatementCache {
  private readonly kept = new Map<string, string>();
  private readonly byName = new Map<string, string>();
  /** Forgotten statements still allocated on the backend. */
  private stale: string[] = [];
  private counter = 0;

  /** Rewrites one exchange's messages; see the file comment. */
  translate(client: ClientStatements, messages: Buffer[]): Step[] {
    return messages.map((m) => this.translateOne(client, m));
  }

  /** DEALLOCATE statements to run when the backend is outside a transaction. */
  takeStale(): string[] {
    if (this.stale.length === 0) return [];
    const names = this.stale;
    this.stale = [];
    return names.map((n) => `DEALLOCATE ${n}`);
  }

  private translateOne(client: ClientStatements, m: Buffer): Step {
    const type = m[0];
    if (type === MSG_QUERY) {
      const sql = cString(m, 5);
      return INVALIDATES.test(sql) ? { message: m, onSuccess: () => this.forgetAll(), onError: () => this.forgetAll() } : { message: m };
    }
    if (type === MSG_PARSE) {
      const nameEnd = m.indexOf(0, 5);
      const sqlStart = nameEnd + 1;
      const sql = cString(m, sqlStart);
      if (nameEnd !== 5) return { message: m, ...this.invalidatingIf(sql) }; // the client's own named statement
      client.unnamed = null;
      if (!CACHEABLE.test(sql) || INVALIDATES.test(sql)) return { message: m, ...this.invalidatingIf(sql) };
      const key = m.toString('latin1', sqlStart);
      const known = this.kept.get(key);
      if (known) {
        client.unnamed = known;
        return { message: null, reply: PARSE_COMPLETE };
      }
      if (this.kept.size >= MAX_STATEMENTS) this.forgetAll();
      const name = `knock_wire_${++this.counter}`;
      client.unnamed = name;
      return {
        message: withName(m, sqlStart, name),
        onSuccess: () => {
          this.kept.set(key, name);
          this.byName.set(name, key);
        },
        onError: () => {
          client.unnamed = null;
        },
      };
    }
    if (type === MSG_BIND && client.unnamed) {
      // Bind: portal\0 statement\0 …
      const portalEnd = m.indexOf(0, 5);
      if (m[portalEnd + 1] !== 0) return { message: m }; // names a client's statement
      const name = client.unnamed;
      return { message: spliceName(m, portalEnd + 1, portalEnd + 2, name), onError: (state) => this.forgetIfStale(name, state) };
    }
    if (type === MSG_DESCRIBE && client.unnamed && m[5] === 0x53 /* 'S' */ && m[6] === 0) {
      return { message: spliceName(m, 6, 7, client.unnamed) };
    }
    return { message: m };
  }

  private invalidatingIf(sql: string): Partial<Step> {
    return INVALIDATES.test(sql) ? { onSuccess: () => this.forgetAll(), onError: () => this.forgetAll() } : {};
  }

  private forgetIfStale(name: string, sqlState: string): void {
    if (sqlState !== '0A000') return;
    const key = this.byName.get(name);
    if (key === undefined) return;
    this.kept.delete(key);
    this.byName.delete(name);
    this.stale.push(name);
  }

  private forgetAll(): void {
    this.stale.push(...this.byName.keys());
    this.kept.clear();
    this.byName.clear();
  }
}

/** A Parse message with `name` where its (empty) name was. */
function withName(parse: Buffer, sqlStart: number, name: string): Buffer {
  return spliceName(parse, 5, sqlStart, name);
}

/** Replaces bytes [from, to) of a message with `name\0` and fixes the length field. */
function spliceName(m: Buffer, from: number, to: number, name: string): Buffer {
  const out = Buffer.concat([m.subarray(0, from), Buffer.from(`${name}\0`, 'latin1'), m.subarray(to)]);
  out.writeInt32BE(out.length - 1, 1);
  return out;
}

function cString(buf: Buffer, start: number): string {
  const end = buf.indexOf(0, start);
  return buf.toString('utf8', start, end < 0 ? buf.length : end);
}

/** SQLSTATE of the first ErrorResponse in a backend output, or null. */
export function errorState(output: Buffer[]): string | null {
  for (const chunk of output) {
    let offset = 0;
    while (offset + 5 <= chunk.length) {
      const type = chunk[offset]!;
      const length = 1 + chunk.readInt32BE(offset + 1);
      if (type === 0x45 /* 'E' */) {
        // Fields: type byte, then a C string; 'C' is the SQLSTATE.
        let p = offset + 5;
        const end = Math.min(chunk.length, offset + length);
        while (p < end && chunk[p] !== 0) {
          const field = chunk[p]!;
          const valueEnd = chunk.indexOf(0, p + 1);
          if (valueEnd < 0) break;
          if (field === 0x43 /* 'C' */) return chunk.toString('latin1', p + 1, valueEnd);
          p = valueEnd + 1;
        }
        return '';
      }
      offset += length;
    }
  }
  return null;
}
