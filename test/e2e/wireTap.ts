/**
 * A tap on a worker page's socket.io connection (Playwright's routeWebSocket): the test sees
 * every protocol message the server sends the page, may hold one back, and may send the
 * server messages in the page's name. This is how a test plays a hostile volunteer whose
 * tab runs the honest worker code: the attack lives in the test, never in the worker.
 *
 * socket.io over a WebSocket: an event on the default namespace is the text frame
 * `42["msg",{…}]`; frames with binary attachments, other namespaces and engine.io's own
 * frames pass through untouched.
 */
import type { Page, WebSocketRoute } from 'playwright';
import type { ClientMessage, ServerMessage } from '../../shared/protocol.ts';

export interface WireTap {
  /** the page's peer id, once welcomed */
  peerId: string | null;
  /** server → page messages seen so far, in order */
  readonly seen: ServerMessage[];
  /** sends `m` to the server as if the page had */
  inject(m: ClientMessage): void;
}

/** Return 'hold' to keep a message from the page. */
export type ServerHook = (m: ServerMessage, tap: WireTap) => 'hold' | void;

const decode = (frame: string | Buffer): ServerMessage | null => {
  if (typeof frame !== 'string' || !frame.startsWith('42[')) return null;
  try {
    const [ev, m] = JSON.parse(frame.slice(2)) as [string, ServerMessage];
    return ev === 'msg' && m && typeof m === 'object' ? m : null;
  } catch {
    return null;
  }
};

/** Taps every socket.io connection the page opens to its server (call before page.goto). */
export async function tapWorker(page: Page, hook: ServerHook = () => {}): Promise<WireTap> {
  let server: WebSocketRoute | null = null;
  const tap: WireTap = {
    peerId: null,
    seen: [],
    inject(m) {
      server?.send(`42${JSON.stringify(['msg', m])}`);
    },
  };
  await page.routeWebSocket(/\/socket\.io\//, (ws) => {
    const s = ws.connectToServer();
    server = s;
    s.onMessage((frame) => {
      const m = decode(frame);
      if (m) {
        tap.seen.push(m);
        if (m.type === 'welcome') tap.peerId = m.peerId;
        if (hook(m, tap) === 'hold') return;
      }
      ws.send(frame);
    });
    ws.onMessage((frame) => s.send(frame));
    ws.onClose((code, reason) => s.close({ code, reason }));
    s.onClose((code, reason) => ws.close({ code, reason }));
  });
  return tap;
}
