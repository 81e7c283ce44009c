/**
 * Child process that generates the API load, so its CPU shows up apart from the service's.
 *
 * It plays the agents (POST /api/v1/call-requests) and the customers' phones (accept, then the
 * biometric authenticate with a software passkey per phone). Each of `concurrency` workers owns
 * a fixed slice of the customers, so one phone never has two requests in flight: a real phone
 * answers one knock at a time, and its passkey's signature counter must rise in order.
 *
 * Messages from the parent, each answered once:
 *   {type:'keys', count, rpId, origin}        -> {type:'keys', keys:[{credentialId, publicKey}]}
 *   {type:'run', url, concurrency, warmupMs, durationMs, agents, customers} -> {type:'run-result'}
 *   {type:'auth', concurrency, durationMs, maxTokens}                       -> {type:'auth-result'}
 * and while measuring it sends {type:'mark', phase, edge:'start'|'end'} for CPU accounting.
 */
import { SoftAuthenticator } from '../test/support/soft-authenticator.js';
import { JsonClient } from './http-json.js';
import { summarize, type LatencySummary } from './stats.js';

interface Customer {
  id: string;
  credential: string;
}

interface Accepted {
  customer: number;
  requestId: string;
  challengeId: string;
  webauthn: { challenge: string; rpId?: string };
}

interface RunMessage {
  type: 'run';
  url: string;
  concurrency: number;
  warmupMs: number;
  durationMs: number;
  agents: string[];
  customers: Customer[];
}

interface AuthMessage {
  type: 'auth';
  concurrency: number;
  durationMs: number;
  maxTokens: number;
}

export interface PhaseStats {
  /** Measured window (after warm-up), milliseconds. */
  windowMs: number;
  /** HTTP requests completed inside the window, all endpoints together. */
  requests: number;
  requestsPerSecond: number;
  /** Completions inside the window, per endpoint. */
  completed: Record<string, number>;
  errors: number;
  errorSamples: string[];
  latency: Record<string, LatencySummary>;
  clientCpuCores: number;
  concurrency: number;
}

export interface RunResult extends PhaseStats {
  /** create+accept pairs completed inside the window, per second. */
  pairsPerSecond: number;
  created: number;
  accepted: number;
  pairsAvailable: number;
  pairsExhausted: boolean;
}

export interface AuthResult extends PhaseStats {
  authenticated: number;
  tokens: string[];
}

let authenticators: SoftAuthenticator[] = [];
let client: JsonClient | null = null;
let customers: Customer[] = [];
const accepted: Accepted[] = [];

function send(m: unknown): void {
  process.send!(m);
}

/** Collects per-endpoint latencies and completions for one phase. */
class Recorder {
  readonly latencies = new Map<string, number[]>();
  completedInWindow = 0;
  readonly completed: Record<string, number> = {};
  errors = 0;
  readonly errorSamples: string[] = [];

  constructor(
    private readonly windowStart: number,
    private windowEnd: number,
  ) {}

  setEnd(end: number): void {
    this.windowEnd = end;
  }

  record(name: string, start: number, end: number): void {
    if (start >= this.windowStart) {
      let list = this.latencies.get(name);
      if (!list) this.latencies.set(name, (list = []));
      list.push(end - start);
    }
    if (end >= this.windowStart && end <= this.windowEnd) {
      this.completedInWindow += 1;
      this.completed[name] = (this.completed[name] ?? 0) + 1;
    }
  }

  error(what: string, status: number, body: unknown): void {
    this.errors += 1;
    if (this.errorSamples.length < 5) {
      const b = body as { code?: string; detail?: string } | string;
      const detail = typeof b === 'string' ? b.slice(0, 160) : `${b?.code ?? ''} ${b?.detail ?? ''}`.trim();
      this.errorSamples.push(`${what}: HTTP ${status} ${detail}`);
    }
  }

  stats(concurrency: number, cpuCores: number): PhaseStats {
    const windowMs = this.windowEnd - this.windowStart;
    const latency: Record<string, LatencySummary> = {};
    for (const [name, list] of this.latencies) latency[name] = summarize(list);
    return {
      windowMs: Math.round(windowMs),
      requests: this.completedInWindow,
      requestsPerSecond: Math.round((this.completedInWindow * 1000) / windowMs),
      completed: this.completed,
      errors: this.errors,
      errorSamples: this.errorSamples,
      latency,
      clientCpuCores: Math.round(cpuCores * 100) / 100,
      concurrency,
    };
  }
}

async function timed<T>(rec: Recorder, name: string, call: () => Promise<T>): Promise<T> {
  const start = performance.now();
  try {
    return await call();
  } finally {
    rec.record(name, start, performance.now());
  }
}

function cpuMark(): { at: number; usage: NodeJS.CpuUsage } {
  return { at: performance.now(), usage: process.cpuUsage() };
}

function coresSince(m: { at: number; usage: NodeJS.CpuUsage }, until: number): number {
  const u = process.cpuUsage(m.usage);
  return (u.user + u.system) / 1000 / (until - m.at);
}

async function runCreateAccept(m: RunMessage): Promise<RunResult> {
  client = new JsonClient(m.url, m.concurrency);
  customers = m.customers;
  const started = performance.now();
  const windowStart = started + m.warmupMs;
  const windowEnd = windowStart + m.durationMs;
  const rec = new Recorder(windowStart, windowEnd);
  let created = 0;
  let exhausted = false;
  let cpu: { at: number; usage: NodeJS.CpuUsage } | null = null;
  const startTimer = setTimeout(() => {
    cpu = cpuMark();
    send({ type: 'mark', phase: 'create-accept', edge: 'start' });
  }, m.warmupMs);
  let cpuCores = 0;
  const endTimer = setTimeout(() => {
    if (cpu) cpuCores = coresSince(cpu, performance.now());
    send({ type: 'mark', phase: 'create-accept', edge: 'end' });
  }, m.warmupMs + m.durationMs);

  let n = 0;
  const worker = async (w: number) => {
    const mine = customers.map((_, i) => i).filter((i) => i % m.concurrency === w);
    for (const agent of m.agents) {
      for (const i of mine) {
        if (performance.now() >= windowEnd) return;
        const customer = customers[i]!;
        const reference = `BENCH-${++n}`;
        const c = await timed(rec, 'create', () =>
          client!.post('/api/v1/call-requests', agent, { customerId: customer.id, reason: 'Card payment check', reference }),
        );
        if (c.status !== 201) {
          rec.error('create', c.status, c.body);
          continue;
        }
        created += 1;
        const id = c.body.id as string;
        const a = await timed(rec, 'accept', () => client!.post(`/api/v1/app/requests/${id}/accept`, customer.credential, undefined));
        if (a.status !== 200 || !a.body?.webauthn) {
          rec.error('accept', a.status, a.body);
          continue;
        }
        accepted.push({ customer: i, requestId: id, challengeId: a.body.challengeId, webauthn: a.body.webauthn });
      }
    }
    exhausted = true;
  };
  await Promise.all(Array.from({ length: m.concurrency }, (_, w) => worker(w)));
  clearTimeout(startTimer);
  clearTimeout(endTimer);
  const stats = rec.stats(m.concurrency, cpuCores);
  const pairsInWindow = rec.completed.accept ?? 0;
  return {
    ...stats,
    pairsPerSecond: Math.round((pairsInWindow * 1000) / stats.windowMs),
    created,
    accepted: accepted.length,
    pairsAvailable: m.agents.length * customers.length,
    pairsExhausted: exhausted,
  };
}

async function runAuthenticate(m: AuthMessage): Promise<AuthResult> {
  if (!client) throw new Error('run the create+accept phase first');
  const started = performance.now();
  const deadline = started + m.durationMs;
  const rec = new Recorder(started, deadline);
  const cpu = cpuMark();
  send({ type: 'mark', phase: 'authenticate', edge: 'start' });
  const tokens: string[] = [];
  // Newest challenges first: they have the most of their lifetime left.
  const queue = [...accepted].reverse();
  let lastEnd = started;
  const worker = async (w: number) => {
    for (const item of queue) {
      if (item.customer % m.concurrency !== w) continue;
      if (performance.now() >= deadline) return;
      const customer = customers[item.customer]!;
      const assertion = authenticators[item.customer]!.assert(item.webauthn);
      const r = await timed(rec, 'authenticate', () =>
        client!.post(`/api/v1/app/requests/${item.requestId}/authenticate`, customer.credential, {
          challengeId: item.challengeId,
          method: 'biometric',
          webauthn: assertion,
        }),
      );
      lastEnd = Math.max(lastEnd, performance.now());
      if (r.status !== 200 || typeof r.body?.token !== 'string') {
        rec.error('authenticate', r.status, r.body);
        continue;
      }
      if (tokens.length < m.maxTokens) tokens.push(r.body.token);
    }
  };
  await Promise.all(Array.from({ length: m.concurrency }, (_, w) => worker(w)));
  // All the work may finish before the deadline: the window is what was used.
  const end = Math.min(deadline, lastEnd);
  rec.setEnd(end);
  const cpuCores = coresSince(cpu, performance.now());
  send({ type: 'mark', phase: 'authenticate', edge: 'end' });
  const stats = rec.stats(m.concurrency, cpuCores);
  return { ...stats, authenticated: tokens.length, tokens };
}

process.on('message', (m: { type: string } & Record<string, any>) => {
  void (async () => {
    try {
      if (m.type === 'keys') {
        authenticators = Array.from({ length: m.count as number }, () => new SoftAuthenticator({ rpId: m.rpId, origin: m.origin }));
        send({
          type: 'keys',
          keys: authenticators.map((a) => ({ credentialId: a.credentialIdB64u, publicKey: Buffer.from(a.coseKey()).toString('base64url') })),
        });
      } else if (m.type === 'run') {
        send({ type: 'run-result', result: await runCreateAccept(m as RunMessage) });
      } else if (m.type === 'auth') {
        send({ type: 'auth-result', result: await runAuthenticate(m as AuthMessage) });
      } else if (m.type === 'exit') {
        client?.close();
        process.exit(0);
      }
    } catch (e) {
      send({ type: 'error', message: (e as Error).stack ?? String(e) });
    }
  })();
});
// The parent is gone (finished, or killed on a time limit): nothing left to serve.
process.on('disconnect', () => process.exit(0));
send({ type: 'ready' });
