/**
 * Worker-thread entry of the embedded PostgreSQL: opens PGlite and serves it on its loopback
 * socket (PgliteWireServer) from this thread, so the database backend and the wire protocol run
 * on a core of their own instead of sharing the service's event loop. Started and stopped by
 * embedded-postgres.ts; the messages below are the whole interface.
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { PGlite } from '@electric-sql/pglite';
import { PgliteWireServer } from './pglite-wire-server.js';

export interface PgliteWorkerData {
  /** Directory of an existing cluster, or null with `dump` for an in-memory database. */
  dataDir: string | null;
  /** A cluster dumped by PGlite's dumpDataDir (uncompressed tar), loaded into memory. */
  dump: Uint8Array | null;
  host: string;
  port: number;
}

/** From the worker. */
export type PgliteWorkerEvent =
  | { type: 'listening'; port: number }
  | { type: 'failed'; message: string; code?: string }
  | { type: 'log'; message: string; err: string };

/** To the worker. */
export type PgliteWorkerCommand = { type: 'stop' };

/**
 * PostgreSQL's default 128 MB of shared buffers is resident WebAssembly memory in PGlite; the
 * service's database is a few MB, so 16 MB holds all of it and saves ~110 MB of RSS.
 */
const START_PARAMS = [...PGlite.defaultStartParams, '-c', 'shared_buffers=16MB'];

if (!parentPort) throw new Error('pglite-worker runs only as a worker thread');
const port: MessagePort = parentPort;
const send = (event: PgliteWorkerEvent) => port.postMessage(event);

async function main(data: PgliteWorkerData): Promise<void> {
  let db: PGlite;
  try {
    db = data.dataDir
      ? await PGlite.create({ dataDir: data.dataDir, startParams: START_PARAMS })
      : await PGlite.create({ loadDataDir: new Blob([data.dump ?? new Uint8Array()]), startParams: START_PARAMS });
  } catch (e) {
    send({ type: 'failed', message: (e as Error).message });
    return;
  }

  // The wire server reports a broken client connection; the service's logger lives on the main thread.
  const logger = {
    error: (obj: { err?: unknown }, message: string) =>
      send({ type: 'log', message, err: obj.err instanceof Error ? obj.err.message : String(obj.err) }),
  };
  const server = new PgliteWireServer(db, { logger });
  let bound: number;
  try {
    bound = await server.listen(data.port, data.host);
  } catch (e) {
    await db.close().catch(() => undefined);
    send({ type: 'failed', message: (e as Error).message, code: (e as { code?: string }).code });
    return;
  }

  let stopping = false;
  port.on('message', (command: PgliteWorkerCommand) => {
    if (command.type !== 'stop' || stopping) return;
    stopping = true;
    void (async () => {
      await server.close();
      // A clean close checkpoints, so a persistent directory reopens without recovery.
      await db.close();
      // The thread ends once the port is closed; the main thread waits for that exit.
      port.close();
    })();
  });
  send({ type: 'listening', port: bound });
}

void main(workerData as PgliteWorkerData);
