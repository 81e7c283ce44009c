/**
 * Statements per operation with their time, from PostgreSQL's `pg_stat_statements`, for the
 * profiles flag (BENCH_PROFILE): reset at the start of a measured window, read at its end, each
 * statement's calls and execution time divided by the operations the window completed. Only
 * when the server has the extension loaded (`shared_preload_libraries = 'pg_stat_statements'`);
 * otherwise it says so and the run goes on without it.
 */
import pg from 'pg';

export interface StatementCost {
  /** The normalised statement text, shortened. */
  query: string;
  callsPerOperation: number;
  /** Execution time per operation (all its calls), ms. */
  msPerOperation: number;
  meanMs: number;
}

export interface StatementWindow {
  /** Ends the window: the top statements by total time, per operation. */
  read(operations: number): Promise<{ statements: StatementCost[] } | { unavailable: string }>;
}

const TOP = 15;

async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/**
 * Checks once, before the measured service starts (creating an extension mid-run would be part of
 * the figures), whether the server can count statements: null when it can, else why not.
 */
export async function prepareStatementStats(url: string): Promise<string | null> {
  try {
    await withClient(url, async (c) => {
      await c.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
      await c.query('SELECT 1 FROM pg_stat_statements LIMIT 1');
    });
    return null;
  } catch (e) {
    return `pg_stat_statements is not available on this server (${(e as Error).message}); load it with shared_preload_libraries`;
  }
}

/** Starts a window on the database at `url` (statements of that database only); `unavailable` from prepareStatementStats. */
export async function startStatementWindow(url: string, unavailable: string | null): Promise<StatementWindow> {
  if (!unavailable) await withClient(url, (c) => c.query('SELECT pg_stat_statements_reset()'));
  return {
    async read(operations) {
      if (unavailable) return { unavailable };
      const per = Math.max(1, operations);
      return withClient(url, async (c) => {
        const { rows } = await c.query<{ query: string; calls: string; total: number; mean: number }>(
          `SELECT query, calls, total_exec_time AS total, mean_exec_time AS mean
           FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
             AND query NOT LIKE '%pg_stat_statements_reset%'
           ORDER BY total_exec_time DESC LIMIT ${TOP}`,
        );
        return {
          statements: rows.map((r) => ({
            query: r.query.replace(/\s+/g, ' ').slice(0, 160),
            callsPerOperation: Math.round((Number(r.calls) / per) * 100) / 100,
            msPerOperation: Math.round((r.total / per) * 1000) / 1000,
            meanMs: Math.round(r.mean * 1000) / 1000,
          })),
        };
      });
    },
  };
}
