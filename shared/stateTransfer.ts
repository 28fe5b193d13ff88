/**
 * Sends a training state over a Link in pieces (a data channel message is at most 256 KiB)
 * and reassembles it on the other side. Pieces carry their own magic ('TY') so a ring
 * listening on the same link can tell them from all-reduce frames.
 */
import { TabswarmError, withTimeout } from './errors.ts';
import type { Link } from './allreduce/link.ts';

export const SYNC_MAGIC = 0x5954; // 'TY'
const HEADER = 16;
const PIECE = 60 * 1024;

export function isSyncPiece(b: Uint8Array): boolean {
  return b.byteLength >= 2 && (b[0]! | (b[1]! << 8)) === SYNC_MAGIC;
}

export async function sendState(link: Link, step: number, state: Uint8Array, highWater = 4 * 1024 * 1024): Promise<void> {
  const total = Math.max(1, Math.ceil(state.byteLength / PIECE));
  for (let i = 0; i < total; i++) {
    const body = state.subarray(i * PIECE, Math.min(state.byteLength, (i + 1) * PIECE));
    const piece = new Uint8Array(HEADER + body.byteLength);
    const dv = new DataView(piece.buffer);
    dv.setUint16(0, SYNC_MAGIC, true);
    dv.setUint32(4, step, true);
    dv.setUint32(8, i, true);
    dv.setUint32(12, total, true);
    piece.set(body, HEADER);
    if (link.bufferedAmount > highWater) await link.drained(highWater / 2);
    link.send(piece);
  }
}

export function receiveState(link: Link, step: number, timeoutMs: number, signal?: AbortSignal): Promise<Uint8Array> {
  let off: () => void = () => {};
  let offClose: () => void = () => {};
  const p = new Promise<Uint8Array>((resolve, reject) => {
    const parts: Uint8Array[] = [];
    let got = 0;
    offClose = link.onClose(() => reject(new TabswarmError('LINK_CLOSED', `state sync link to ${link.remoteId} closed`)));
    off = link.onMessage((b) => {
      if (!isSyncPiece(b)) return;
      const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
      const s = dv.getUint32(4, true);
      const i = dv.getUint32(8, true);
      const total = dv.getUint32(12, true);
      if (s !== step || i >= total || parts[i]) return;
      parts[i] = new Uint8Array(b.subarray(HEADER)); // a copy, also for Node Buffers
      if (++got === total) {
        const size = parts.reduce((a, x) => a + x.byteLength, 0);
        const out = new Uint8Array(size);
        let o = 0;
        for (const x of parts) {
          out.set(x, o);
          o += x.byteLength;
        }
        resolve(out);
      }
    });
  });
  return withTimeout(`state sync of step ${step} from ${link.remoteId}`, timeoutMs, p, signal).finally(() => {
    off();
    offClose();
  });
}
