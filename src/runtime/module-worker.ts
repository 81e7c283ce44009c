/**
 * Starts a worker thread on a module that sits next to the calling module: the compiled .js,
 * or, when the service runs from its TypeScript sources (tests, benchmarks, `npm run dev`), the
 * .ts file loaded through tsx, the loader those run under (a worker thread does not inherit the
 * loader of the main thread).
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker, type WorkerOptions } from 'node:worker_threads';

/**
 * @param callerUrl the caller's `import.meta.url`
 * @param moduleName the worker module's file name without extension, in the caller's directory
 */
export function startModuleWorker(callerUrl: string, moduleName: string, options: Omit<WorkerOptions, 'eval'>): Worker {
  const caller = fileURLToPath(callerUrl);
  const ext = path.extname(caller);
  const file = pathToFileURL(path.join(path.dirname(caller), `${moduleName}${ext}`));
  if (ext !== '.ts') return new Worker(file, options);
  const tsxApi = pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm/api')).href.replace(/\.cjs$/, '.mjs');
  const boot = `import(${JSON.stringify(tsxApi)}).then((tsx) => tsx.tsImport(${JSON.stringify(file.href)}, ${JSON.stringify(callerUrl)}))`;
  return new Worker(boot, { ...options, eval: true });
}
