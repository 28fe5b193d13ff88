/**
 * Launches Chromium for headless workers: the system Chromium when there is one (Debian's
 * `chromium`), else Playwright's own (TABSWARM_CHROMIUM names another). What the flags do:
 *  - WebGPU: `--enable-unsafe-webgpu` exposes navigator.gpu where Chromium does not by default
 *    (Linux, headless); `--enable-unsafe-swiftshader` lets a GPU-less machine get the software
 *    adapter, which the worker's backend choice recognises and skips unless forced.
 *  - Off the network: no background networking, component updates or sync, so the browser
 *    itself calls nothing; with `loopbackOnly`, every host name but localhost resolves to
 *    NOTFOUND, WebRTC gathers loopback candidates (`--allow-loopback-in-peer-connection`)
 *    and offers plain IPs instead of mDNS `.local` names (those need multicast DNS).
 *  - Speed: background and occluded tabs are not throttled, since every worker is a hidden tab.
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser, type BrowserContext, type BrowserServer } from 'playwright';

const SYSTEM_CHROMIUM = ['/usr/bin/chromium', '/usr/lib/chromium/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];

export function findChromium(): string | undefined {
  const env = process.env.TABSWARM_CHROMIUM;
  if (env) return env;
  return SYSTEM_CHROMIUM.find((p) => existsSync(p));
}

export interface LaunchOptions {
  headless?: boolean;
  /** keep every lookup and connection on loopback (tests, demos) */
  loopbackOnly?: boolean;
}

function launchArgs(o: LaunchOptions) {
  const args = [
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--disable-dev-shm-usage',
    '--enable-unsafe-webgpu',
    '--enable-unsafe-swiftshader',
    '--disable-background-timer-throttling',
    '--disable-renderer-backgrounding',
    '--disable-backgrounding-occluded-windows',
  ];
  if (process.getuid?.() === 0) args.push('--no-sandbox');
  if (o.loopbackOnly !== false) {
    args.push(
      '--allow-loopback-in-peer-connection',
      '--disable-features=WebRtcHideLocalIpsWithMdns',
      '--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1 , EXCLUDE localhost',
    );
  }
  const executablePath = findChromium();
  return { headless: o.headless !== false, args, ...(executablePath ? { executablePath } : {}) };
}

export async function launchChromium(o: LaunchOptions = {}): Promise<Browser> {
  return chromium.launch(launchArgs(o));
}

/** A browser in its own process that a test can kill (`server.process().kill('SIGKILL')`). */
export async function launchChromiumServer(o: LaunchOptions = {}): Promise<{ server: BrowserServer; browser: Browser }> {
  const server = await chromium.launchServer(launchArgs(o));
  const browser = await chromium.connect(server.wsEndpoint());
  return { server, browser };
}

/** One isolated context per worker, with the media permission WebRTC needs to enumerate interfaces. */
export async function workerContext(browser: Browser): Promise<BrowserContext> {
  const ctx = await browser.newContext();
  await ctx.grantPermissions(['microphone', 'camera']);
  return ctx;
}
