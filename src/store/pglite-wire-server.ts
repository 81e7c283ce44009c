/**
 * Serves one PGlite database to many PostgreSQL wire-protocol clients on a TCP socket.
 *
 * PGlite is a single backend session. @electric-sql/pglite-socket multiplexes clients onto it
 * message by message, which leaves two gaps this front closes:
 *  - Work is handed to the backend one *exchange* at a time (a simple Query, or an extended
 *    Parse/Bind/Describe/Execute run up to its Sync), and a client that leaves a transaction
 *    open keeps the backend until it ends, so statements of different clients never interleave
 *    inside a transaction or an extended-query exchange.
 *  - NOTIFY: the backend writes a NotificationResponse into the output of whichever client ran
 *    the NOTIFY. Here it is taken out and sent to the clients that LISTEN on that channel, as a
 *    PostgreSQL server would (the job scheduler relies on this).
 * Limits: all clients share one session, so session state (SET, named prepared statements,
 * temporary tables, session advisory locks) is shared; pg_advisory_xact_lock never blocks, but
 * transactions are already serialised. A client must not wait on a second connection while it
 * holds a transaction open (that would wait forever); real PostgreSQL would allow it. COPY
 * FROM STDIN is not supported. Cancel requests are ignored.
 */
import net from 'node:net';
import type { PGlite } from '@electric-sql/pglite';
import { errorState, StatementCache, type ClientStatements, type Step } from './pglite-statement-cache.js';

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;
const MAX_STARTUP_LENGTH = 10_000;

const MSG_QUERY = 0x51; // 'Q'
const MSG_PARSE = 0x50; // 'P'
const MSG_SYNC = 0x53; // 'S'
const MSG_FLUSH = 0x48; // 'H'
const MSG_TERMINATE = 0x58; // 'X'
const MSG_NOTIFICATION = 0x41; // 'A' (backend)
const MSG_ERROR = 0x45; // 'E' (backend)

interface Connection {
  socket: net.Socket;
  inbox: Buffer;
  started: boolean;
  /** Extended-protocol messages waiting for their Sync/Flush. */
  pending: Buffer[];
  /** LISTEN/UNLISTEN seen in the pending messages, applied once the exchange succeeds. */
  pendingListen: ListenChange[];
  listens: Set<string>;
  closed: boolean;
  /** Serialises this connection's work in arrival order. */
  chain: Promise<void>;
  statements: ClientStatements;
}

type ListenChange = { op: 'listen'; channel: string } | { op: 'unlisten'; channel: string | '*' };

/** Hands the single backend to one connection at a time, first come first served. */
class BackendGate {
  private owner: Connection | null = null;
  private readonly queue: Array<{ conn: Connection; grant: () => void }> = [];

  async acquire(conn: Connection): Promise<void> {
    if (this.owner === conn) return;
    if (this.owner === null) {
      this.owner = conn;
      return;
    }
    await new Promise<void>((grant) => this.queue.push({ conn, grant }));
  }

  holds(conn: Connection): boolean {
    return this.owner === conn;
  }

  release(conn: Connection): void {
    if (this.owner !== conn) return;
    const next = this.queue.shift();
    this.owner = next ? next.conn : null;
    next?.grant();
  }
}

export interface WireServerOptions {
  /** Where a failed client connection is reported (a pino Logger fits). */
  logger?: { error(obj: { err: unknown }, message: string): void };
}

export class PgliteWireServer {
  private server: net.Server | null = null;
  private readonly gate = new BackendGate();
  private readonly connections = new Set<Connection>();
  private readonly statements = new StatementCache();

  constructor(
    private readonly db: PGlite,
    private readonly opts: WireServerOptions = {},
  ) {}

  /** Starts listening; resolves with the port actually bound (port 0 picks a free one). */
  async listen(port: number, host: string): Promise<number> {
    const server = net.createServer((socket) => this.accept(socket));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => this.opts.logger?.error({ err }, 'embedded database listener failed'));
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('embedded database: no TCP address');
    return address.port;
  }

  /** Stops accepting, drops every client (rolling back open transactions) and waits for them. */
  async close(): Promise<void> {
    const server = this.server;
    this.server = null;
    const closing = server ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
    for (const conn of this.connections) conn.socket.destroy();
    await Promise.allSettled([...this.connections].map((c) => c.chain));
    await closing;
  }

  private accept(socket: net.Socket): void {
    socket.setNoDelay(true);
    const conn: Connection = {
      socket,
      inbox: Buffer.alloc(0),
      started: false,
      pending: [],
      pendingListen: [],
      listens: new Set(),
      closed: false,
      chain: Promise.resolve(),
      statements: { unnamed: null },
    };
    this.connections.add(conn);
    socket.on('data', (data) => {
      conn.inbox = conn.inbox.length === 0 ? data : Buffer.concat([conn.inbox, data]);
      this.schedule(conn, () => this.drain(conn));
    });
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      if (conn.closed) return;
      conn.closed = true;
      this.schedule(conn, () => this.cleanUp(conn), true);
    });
  }

  private schedule(conn: Connection, work: () => Promise<void>, evenIfClosed = false): void {
    conn.chain = conn.chain
      .then(() => (conn.closed && !evenIfClosed ? undefined : work()))
      .catch((err: unknown) => {
        this.opts.logger?.error({ err }, 'embedded database connection failed');
        conn.socket.destroy();
      });
  }

  /** Takes every complete message from the inbox and runs each finished exchange. */
  private async drain(conn: Connection): Promise<void> {
    while (!conn.closed) {
      if (!conn.started) {
        if (conn.inbox.length < 8) return;
        const length = conn.inbox.readInt32BE(0);
        if (length < 8 || length > MAX_STARTUP_LENGTH) return void conn.socket.destroy(); // not PostgreSQL
        if (conn.inbox.length < length) return;
        const code = conn.inbox.readInt32BE(4);
        const message = this.take(conn, length);
        if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
          conn.socket.write('N'); // no TLS on a loopback socket; the client continues in plain text
          continue;
        }
        if (code === CANCEL_REQUEST) {
          conn.socket.end();
          return;
        }
        await this.exchange(conn, [message], true);
        conn.started = true;
        continue;
      }

      if (conn.inbox.length < 5) return;
      const length = 1 + conn.inbox.readInt32BE(1);
      if (length < 5) return void conn.socket.destroy(); // corrupt stream
      if (conn.inbox.length < length) return;
      const type = conn.inbox[0];
      const message = this.take(conn, length);

      switch (type) {
        case MSG_TERMINATE:
          conn.socket.end();
          return;
        case MSG_QUERY:
          conn.pendingListen.push(...listenChanges(cString(message, 5)));
          await this.exchange(conn, [...conn.pending.splice(0), message], true);
          break;
        case MSG_SYNC:
          await this.exchange(conn, [...conn.pending.splice(0), message], true);
          break;
        case MSG_FLUSH:
          await this.exchange(conn, [...conn.pending.splice(0), message], false);
          break;
        case MSG_PARSE: {
          // Parse: name\0 query\0 ...
          const nameEnd = message.indexOf(0, 5);
          conn.pendingListen.push(...listenChanges(cString(message, nameEnd + 1)));
          conn.pending.push(message);
          break;
        }
        default:
          conn.pending.push(message);
      }
    }
  }

  private take(conn: Connection, length: number): Buffer {
    const message = Buffer.from(conn.inbox.subarray(0, length));
    conn.inbox = conn.inbox.subarray(length);
    return message;
  }

  /**
   * Runs messages on the backend while holding it. completes = the exchange ends here (Sync or
   * Query); after a Flush the client is mid-exchange and keeps the backend.
   */
  private async exchange(conn: Connection, messages: Buffer[], completes: boolean): Promise<void> {
    await this.gate.acquire(conn);
    try {
      const output = await this.runSteps(this.statements.translate(conn.statements, messages));
      const { rest, notifications, failed } = splitBackendOutput(output);
      if (rest.length > 0 && !conn.closed) conn.socket.write(rest);

      const changes = conn.pendingListen.splice(0);
      if (!failed) await this.applyListenChanges(conn, changes);
      for (const n of notifications) this.deliver(n);
      if (completes && !this.db.isInTransaction()) {
        const stale = this.statements.takeStale();
        if (stale.length > 0) await this.run(stale.map(simpleQuery));
      }
    } finally {
      if (completes && !this.db.isInTransaction()) this.gate.release(conn);
    }
  }

  /**
   * Runs an exchange's steps in order. After an error the backend ignores messages up to the
   * next Sync, so replies given in place of a message are left out then too, as they would be.
   */
  private async runSteps(steps: Step[]): Promise<Buffer> {
    const chunks: Buffer[] = [];
    await this.db.runExclusive(async () => {
      let skipping = false;
      for (const step of steps) {
        const type = step.message?.[0];
        if (step.message === null) {
          if (!skipping && step.reply) chunks.push(step.reply);
          continue;
        }
        const own: Buffer[] = [];
        await this.db.execProtocolRawStream(new Uint8Array(step.message), {
          onRawData: (data) => own.push(Buffer.from(data)),
        });
        chunks.push(...own);
        if (skipping) {
          step.onError?.('');
        } else {
          const state = errorState([Buffer.concat(own)]);
          if (state === null) step.onSuccess?.();
          else {
            step.onError?.(state);
            skipping = type !== MSG_QUERY;
          }
        }
        if (type === MSG_SYNC || type === MSG_QUERY) skipping = false;
      }
    });
    return Buffer.concat(chunks);
  }

  private async run(messages: Buffer[]): Promise<Buffer> {
    const chunks: Buffer[] = [];
    await this.db.runExclusive(async () => {
      for (const m of messages) {
        await this.db.execProtocolRawStream(new Uint8Array(m), {
          onRawData: (data) => chunks.push(Buffer.from(data)),
        });
      }
    });
    return Buffer.concat(chunks);
  }

  private deliver(n: { channel: string; message: Buffer }): void {
    for (const other of this.connections) {
      if (!other.closed && other.listens.has(n.channel)) other.socket.write(n.message);
    }
  }

  private async applyListenChanges(conn: Connection, changes: ListenChange[]): Promise<void> {
    const released: string[] = [];
    for (const c of changes) {
      if (c.op === 'listen') conn.listens.add(c.channel);
      else if (c.channel === '*') {
        released.push(...conn.listens);
        conn.listens.clear();
      } else if (conn.listens.delete(c.channel)) released.push(c.channel);
    }
    // The UNLISTEN reached the shared backend; channels others still want are listened again.
    const stillWanted = released.filter((ch) => this.anyoneListens(ch));
    if (stillWanted.length > 0) await this.run(stillWanted.map((ch) => simpleQuery(`LISTEN ${quoteIdent(ch)}`)));
  }

  private anyoneListens(channel: string): boolean {
    for (const c of this.connections) if (!c.closed && c.listens.has(channel)) return true;
    return false;
  }

  /** A client went away: end what it left open on the backend and drop its channels. */
  private async cleanUp(conn: Connection): Promise<void> {
    this.connections.delete(conn);
    conn.pending = [];
    const unused = [...conn.listens].filter((ch) => !this.anyoneListens(ch));
    conn.listens.clear();
    const owned = this.gate.holds(conn);
    if (!owned && unused.length === 0) return;
    await this.gate.acquire(conn);
    try {
      const cleanup: Buffer[] = [];
      if (owned) cleanup.push(SYNC_MESSAGE); // ends an unfinished extended exchange
      if (owned && this.db.isInTransaction()) cleanup.push(simpleQuery('ROLLBACK'));
      for (const ch of unused) cleanup.push(simpleQuery(`UNLISTEN ${quoteIdent(ch)}`));
      await this.run(cleanup);
      if (this.db.isInTransaction()) await this.run([simpleQuery('ROLLBACK')]);
    } finally {
      this.gate.release(conn);
    }
  }
}

const SYNC_MESSAGE = Buffer.from([MSG_SYNC, 0, 0, 0, 4]);

function simpleQuery(sql: string): Buffer {
  const body = Buffer.from(`${sql}\0`, 'utf8');
  const header = Buffer.alloc(5);
  header[0] = MSG_QUERY;
  header.writeInt32BE(4 + body.length, 1);
  return Buffer.concat([header, body]);
}

function cString(buf: Buffer, start: number): string {
  const end = buf.indexOf(0, start);
  return buf.toString('utf8', start, end < 0 ? buf.length : end);
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** LISTEN / UNLISTEN statements at the start of any statement in the SQL text. */
export function listenChanges(sql: string): ListenChange[] {
  const changes: ListenChange[] = [];
  const re = /(?:^|;)\s*(UNLISTEN|LISTEN)\s+("(?:[^"]|"")+"|[A-Za-z_\u0080-\uffff][A-Za-z0-9_$\u0080-\uffff]*|\*)/gi;
  for (const m of sql.matchAll(re)) {
    const verb = m[1]!.toUpperCase();
    const raw = m[2]!;
    const channel = raw.startsWith('"') ? raw.slice(1, -1).replace(/""/g, '"') : raw === '*' ? '*' : raw.toLowerCase();
    if (verb === 'LISTEN' && channel !== '*') changes.push({ op: 'listen', channel });
    else if (verb === 'UNLISTEN') changes.push({ op: 'unlisten', channel });
  }
  return changes;
}

/** Separates NotificationResponse messages from the rest of the backend's output. */
function splitBackendOutput(output: Buffer): {
  rest: Buffer;
  notifications: Array<{ channel: string; message: Buffer }>;
  failed: boolean;
} {
  const notifications: Array<{ channel: string; message: Buffer }> = [];
  const kept: Buffer[] = [];
  let failed = false;
  let offset = 0;
  while (offset + 5 <= output.length) {
    const type = output[offset]!;
    const length = 1 + output.readInt32BE(offset + 1);
    if (offset + length > output.length) break; // cannot happen with whole exchanges; keep the bytes
    const message = output.subarray(offset, offset + length);
    if (type === MSG_NOTIFICATION) {
      // Int32 pid, then channel\0, payload\0
      notifications.push({ channel: cString(message, 9), message: Buffer.from(message) });
    } else {
      if (type === MSG_ERROR) failed = true;
      kept.push(message);
    }
    offset += length;
  }
  if (offset < output.length) kept.push(output.subarray(offset));
  return { rest: notifications.length === 0 ? output : Buffer.concat(kept), notifications, failed };
}
