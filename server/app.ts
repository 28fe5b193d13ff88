/**
 * Assembles the server: HTTP routes, socket.io, the job registry. Everything it needs
 * (clock, logger, paths) comes in through `createTabswarmServer`'s options.
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { Server } from 'socket.io';
import type { ClientToServerEvents, ServerToClientEvents } from '../shared/protocol.ts';
import type { CoordinatorOptions } from './coordinator.ts';
import { createDatasetFiles } from './datasetFiles.ts';
import { createHttpHandler } from './http.ts';
import { JobRegistry } from './jobs.ts';
import { createLogger, type Logger } from './log.ts';
import { attachSockets } from './sockets.ts';

export interface ServerOptions {
  port?: number;
  host?: string;
  distDir?: string;
  log?: Logger;
  now?: () => number;
  iceServers?: Record<string, unknown>[];
  coordinator?: Partial<CoordinatorOptions>;
}

export interface TabswarmServer {
  url: string;
  port: number;
  jobs: JobRegistry;
  close(): Promise<void>;
}

export async function createTabswarmServer(o: ServerOptions = {}): Promise<TabswarmServer> {
  const log = o.log ?? createLogger('info');
  const now = o.now ?? Date.now;
  const jobs = new JobRegistry({
    now,
    coordinatorDeps: (jobId) => ({
      now,
      every: (ms, fn) => {
        const t = setInterval(fn, ms);
        t.unref();
        return () => clearInterval(t);
      },
      ...(o.coordinator ? { options: o.coordinator } : {}),
      onEvent: (e) => log('info', `job event: ${e.kind}`, { jobId, peerId: e.peerId, detail: e.detail }),
    }),
  });
  const host = o.host ?? '127.0.0.1';
  let baseUrl = '';
  const handler = createHttpHandler({
    jobs,
    datasets: createDatasetFiles(),
    distDir: resolve(o.distDir ?? 'dist'),
    log,
    publicUrl: (req: IncomingMessage) => (req.headers.host ? `http://${req.headers.host}` : baseUrl),
  });
  const http = createServer((req, res) => void handler(req, res));
  const io = new Server<ClientToServerEvents, ServerToClientEvents>(http, { maxHttpBufferSize: 64 * 1024 * 1024, serveClient: false });
  attachSockets(io, { jobs, log, iceServers: o.iceServers ?? [] });
  await new Promise<void>((res, rej) => {
    http.once('error', rej);
    http.listen(o.port ?? 0, host, () => res());
  });
  const port = (http.address() as AddressInfo).port;
  baseUrl = `http://${host}:${port}`;
  log('info', 'server listening', { url: baseUrl });
  return {
    url: baseUrl,
    port,
    jobs,
    close: () =>
      new Promise<void>((res) => {
        for (const j of jobs.jobs.values()) j.coordinator.destroy();
        io.close();
        http.close(() => res());
        http.closeAllConnections();
      }),
  };
}
