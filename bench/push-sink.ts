/**
 * Child process standing in for the browsers' push services during the API benchmark: the test
 * suite's Web Push double (RFC 8030 endpoint, answers 201), run in its own process so its CPU is
 * not counted as the service's. It hands out subscriptions with real P-256 keys, counts every
 * message and decrypts a sample (RFC 8291) to check what the service sent is a real knock.
 *
 * Messages from the parent: {type:'subscriptions', count}, {type:'mark'}, {type:'report'},
 * {type:'exit'}.
 */
import { startFakePushService, type TestSubscription } from '../test/support/fake-push-service.js';

const SAMPLE_EVERY = 50;

async function main(): Promise<void> {
  const push = await startFakePushService();
  const subs = new Map<string, TestSubscription>();
  let received = 0;
  let failedAnswers = 0;
  let sampled = 0;
  let sampleProblems = 0;
  const kinds: Record<string, number> = {};
  let mark: { at: number; usage: NodeJS.CpuUsage } | null = null;
  let windowCores: number | null = null;

  // Drain what the double keeps in memory, so a long run does not grow without bound.
  const drain = () => {
    const batch = push.received.splice(0, push.received.length);
    for (const msg of batch) {
      received += 1;
      if (msg.status !== 201) failedAnswers += 1;
      if (received % SAMPLE_EVERY !== 1) continue;
      sampled += 1;
      try {
        const sub = subs.get(msg.path);
        if (!sub) throw new Error('unknown subscription');
        const payload = JSON.parse(sub.decrypt(msg.body).toString('utf8')) as { kind?: string; reference?: string };
        if (typeof payload.reference !== 'string') throw new Error('no reference');
        kinds[payload.kind ?? '?'] = (kinds[payload.kind ?? '?'] ?? 0) + 1;
      } catch {
        sampleProblems += 1;
      }
    }
  };
  const timer = setInterval(drain, 250);

  process.on('message', (m: { type: string; count?: number }) => {
    if (m.type === 'subscriptions') {
      const list = Array.from({ length: m.count ?? 0 }, () => {
        const s = push.createSubscription();
        subs.set(s.path, s);
        return s.subscription;
      });
      process.send!({ type: 'subscriptions', subs: list });
    } else if (m.type === 'mark') {
      if (mark === null) {
        mark = { at: performance.now(), usage: process.cpuUsage() };
      } else {
        const u = process.cpuUsage(mark.usage);
        windowCores = (u.user + u.system) / 1000 / (performance.now() - mark.at);
      }
    } else if (m.type === 'report') {
      drain();
      process.send!({
        type: 'report',
        received,
        failedAnswers,
        sampled,
        sampleProblems,
        sampledKinds: kinds,
        cpuCores: windowCores,
        rssMb: Math.round(process.memoryUsage().rss / 1048576),
      });
    } else if (m.type === 'exit') {
      clearInterval(timer);
      void push.close().finally(() => process.exit(0));
    }
  });
  // The parent is gone (finished, or killed on a time limit): nothing left to serve.
  process.on('disconnect', () => process.exit(0));
  process.send!({ type: 'ready', origin: push.origin });
}

main().catch((e: unknown) => {
  process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
