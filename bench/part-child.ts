/**
 * Entry of a forked benchmark part: each part runs in a fresh process so its memory and CPU
 * figures are its own. Receives {type:'part', part, target, options}, answers {type:'result'}.
 */
import { runApiBench, type ApiBenchOptions } from './api-throughput.js';
import type { BenchTarget } from './bench-database.js';
import { runSchedulerBench, type SchedulerBenchOptions } from './scheduler-part.js';

interface PartMessage {
  type: 'part';
  part: 'api' | 'scheduler';
  target: BenchTarget;
  options: ApiBenchOptions | SchedulerBenchOptions;
}

process.on('message', (m: PartMessage | { type: 'exit' }) => {
  if (m.type === 'exit') process.exit(0);
  if (m.type !== 'part') return;
  void (async () => {
    try {
      const result =
        m.part === 'api'
          ? await runApiBench(m.target, m.options as ApiBenchOptions)
          : await runSchedulerBench(m.target, m.options as SchedulerBenchOptions);
      process.send!({ type: 'result', result });
    } catch (e) {
      process.send!({ type: 'error', message: (e as Error).stack ?? String(e) });
    }
  })();
});
process.on('disconnect', () => process.exit(0));
process.send!({ type: 'ready' });
