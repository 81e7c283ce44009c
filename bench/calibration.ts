/**
 * Two trivial workloads that say how fast this machine is at what the service does most:
 * database round trips and small HTTP exchanges over loopback. Figures from other machines can
 * be compared against these before being compared against each other.
 */
import { Agent, createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import pg from 'pg';

export interface Calibration {
  /** SELECT 1 through a 10-connection pool with 64 in flight, per second. */
  select1PerSecond: number | null;
  /** POST of "{}" answered "{}", client and server in this one process, 64 in flight, per second. */
  httpEchoPerSecond: number;
}

async function forMs(ms: number, inFlight: number, one: () => Promise<void>): Promise<number> {
  const start = performance.now();
  let n = 0;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (performance.now() - start < ms) {
        await one();
        n += 1;
      }
    }),
  );
  return Math.round((n * 1000) / (performance.now() - start));
}

export async function calibrate(databaseUrl: string | null, ms = 2000): Promise<Calibration> {
  let select1PerSecond: number | null = null;
  if (databaseUrl) {
    const pool = new pg.Pool({ connectionString: databaseUrl, max: 10 });
    try {
      await pool.query('SELECT 1');
      select1PerSecond = await forMs(ms, 64, async () => {
        await pool.query('SELECT 1');
      });
    } finally {
      await pool.end();
    }
  }

  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  try {
    const httpEchoPerSecond = await forMs(
      ms,
      64,
      () =>
        new Promise<void>((resolve, reject) => {
          const req = request({ host: '127.0.0.1', port, path: '/', method: 'POST', agent, headers: { 'content-type': 'application/json' } }, (res) => {
            res.resume();
            res.on('end', () => resolve());
          });
          req.on('error', reject);
          req.end('{}');
        }),
    );
    return { select1PerSecond, httpEchoPerSecond };
  } finally {
    agent.destroy();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
