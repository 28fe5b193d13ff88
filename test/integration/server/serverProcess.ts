/**
 * `tabswarm serve` as a real child process, for tests that kill it: started through the
 * package's bin, ready once it prints its URL, killable with any signal. Its output is kept
 * (the last lines) to explain a failure.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { TimeoutError } from '../../../shared/errors.ts';

export interface ServerProcess {
  url: string;
  port: number;
  child: ChildProcess;
  /** the last lines the process wrote, stdout and stderr together */
  output(): string;
  /** sends `signal` and resolves when the process has exited */
  kill(signal: NodeJS.Signals): Promise<void>;
}

export function spawnServer(o: { port: number; dataDir: string; timeoutMs?: number }): Promise<ServerProcess> {
  const child = spawn(process.execPath, ['server/bin/tabswarm.js', 'serve', '--port', String(o.port), '--data', o.dataDir], {
    cwd: process.cwd(),
    env: { ...process.env, TABSWARM_NETNS: process.env.TABSWARM_NETNS ?? 'off' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const keep = (chunk: Buffer) => {
    lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    if (lines.length > 300) lines.splice(0, lines.length - 300);
  };
  child.stderr!.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const timeoutMs = o.timeoutMs ?? 60_000;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new TimeoutError(`server start (output: ${lines.slice(-20).join(' | ')})`, timeoutMs));
    }, timeoutMs);
    const early = (code: number | null, signal: string | null) => {
      clearTimeout(timer);
      reject(new Error(`server exited before it was ready (code ${code}, signal ${signal}): ${lines.slice(-20).join('\n')}`));
    };
    child.once('exit', early);
    child.stdout!.on('data', (chunk: Buffer) => {
      keep(chunk);
      const m = /serving on (http:\/\/[^\s]+:(\d+))/.exec(chunk.toString('utf8'));
      if (!m) return;
      clearTimeout(timer);
      child.off('exit', early);
      resolve({
        url: m[1]!,
        port: Number(m[2]),
        child,
        output: () => lines.join('\n'),
        kill: async (signal) => {
          if (child.exitCode === null && child.signalCode === null) child.kill(signal);
          await exited;
        },
      });
    });
  });
}
