/**
 * Chromium tabs as benchmark hosts. The bench pages (bench/src/page/*.html) are built
 * with Vite into a temporary folder and served, with the dataset files, from 127.0.0.1;
 * each tab gets its own browser context (as a volunteer's tab would) and the same BenchHost
 * as the Node agents. Tabs signal through a Playwright binding, relayed here.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright';
import { TabswarmError } from '../../shared/errors.ts';
import { launchChromium, workerContext } from '../../server/browser.ts';
import { createDatasetFiles } from '../../server/datasetFiles.ts';
import { HostsBase, type AgentCmd } from './hostProtocol.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const OUT = join(tmpdir(), 'tabswarm-bench-pages');
let built: Promise<void> | null = null;

/** Builds the bench pages once per process. */
export function buildPages(): Promise<void> {
  built ??= (async () => {
    const { build } = await import('vite');
    await build({
      configFile: false,
      root: ROOT,
      logLevel: 'warn',
      build: {
        outDir: OUT,
        emptyOutDir: true,
        target: 'es2022',
        chunkSizeWarningLimit: 8192,
        rollupOptions: { input: { ring: join(ROOT, 'bench/src/page/ring.html'), backends: join(ROOT, 'bench/src/page/backends.html') } },
      },
    });
  })();
  return built;
}

const TYPES: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm', '.css': 'text/css' };

/** Serves the built pages and the shipped datasets (metadata, shards) on 127.0.0.1. */
export async function servePages(): Promise<{ url: string; close(): Promise<void> }> {
  await buildPages();
  const ds = createDatasetFiles();
  const server: Server = createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://x');
    // a shipped dataset as the server serves it: GET /api/datasets/:id (metadata), …/shards/:hash
    const m = /^\/api\/datasets\/(\w+)(?:\/(shards\/[0-9a-f]{64}))?$/.exec(u.pathname);
    const reply = m
      ? ds.source(m[1] as 'mnist', m[2] ?? 'meta.json').then((b) => ({ body: b, type: m[2] ? 'application/octet-stream' : 'application/json' }))
      : readFile(join(OUT, normalize(u.pathname).replace(/^(\.\.[/\\])+/, ''))).then((b) => ({ body: b, type: TYPES[extname(u.pathname)] ?? 'application/octet-stream' }));
    reply.then(
      ({ body, type }) => res.writeHead(200, { 'content-type': type }).end(body),
      () => res.writeHead(404).end(),
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }) };
}

interface BenchPageWindow {
  __bench: { init(id: string): void; signal(from: string, data: unknown): void; handle(cmd: AgentCmd): Promise<unknown> };
}

/** N tabs, one browser context each, hosting the ring bench page. */
export class TabHosts extends HostsBase {
  private constructor(
    private readonly browser: Browser,
    private readonly pages: Page[],
    private readonly site: { close(): Promise<void> },
    readonly ids: string[],
  ) {
    super();
  }

  static async start(n: number): Promise<TabHosts> {
    const site = await servePages();
    const browser = await launchChromium({ loopbackOnly: true });
    const pages: Page[] = [];
    const ids = Array.from({ length: n }, (_, i) => `t${i}`);
    try {
      for (let i = 0; i < n; i++) {
        const ctx = await workerContext(browser);
        const page = await ctx.newPage();
        await page.exposeBinding('__benchSignal', (_src, to: string, data: unknown) => {
          const j = ids.indexOf(to);
          void pages[j]?.evaluate(([from, d]) => (window as unknown as BenchPageWindow).__bench.signal(from, d), [ids[i]!, data] as const).catch(() => {});
        });
        await page.goto(`${site.url}/bench/src/page/ring.html`);
        await page.waitForFunction(() => '__bench' in window);
        await page.evaluate((id) => (window as unknown as BenchPageWindow).__bench.init(id), ids[i]!);
        pages.push(page);
      }
    } catch (e) {
      await browser.close();
      await site.close();
      throw e;
    }
    return new TabHosts(browser, pages, site, ids);
  }

  call<T>(i: number, cmd: AgentCmd, timeoutMs = 180_000): Promise<T> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new TabswarmError('TIMEOUT', `tab ${this.ids[i]}: ${cmd.op} timed out after ${timeoutMs} ms`)), timeoutMs);
    });
    const work = this.pages[i]!.evaluate((c) => (window as unknown as BenchPageWindow).__bench.handle(c), cmd) as Promise<T>;
    return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
  }

  async close(): Promise<void> {
    await this.browser.close().catch(() => {});
    await this.site.close();
  }
}
