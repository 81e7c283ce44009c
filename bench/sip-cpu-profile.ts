/**
 * A V8 CPU profile of this process over one benchmark window (BENCH_PROFILE or BENCH_SIP_CPU_PROF=<dir>), taken
 * through the inspector so it covers the load step only, not start-up or token issuing. Open the
 * .cpuprofile file in Chrome DevTools or speedscope.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';

export interface CpuProfiler {
  stop(name: string): Promise<string>;
}

export async function startCpuProfile(): Promise<CpuProfiler> {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 200 });
  await session.post('Profiler.start');
  return {
    async stop(name) {
      const { profile } = await session.post('Profiler.stop');
      session.disconnect();
      const dir = process.env.BENCH_SIP_CPU_PROF || process.env.BENCH_PROFILE || '.';
      mkdirSync(dir, { recursive: true });
      const file = join(dir, `${name}.cpuprofile`);
      writeFileSync(file, JSON.stringify(profile));
      return file;
    },
  };
}
