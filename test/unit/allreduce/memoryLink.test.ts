import { memoryLinkPair } from '../../../shared/allreduce/memoryLink.ts';
import { linkCompliance } from './linkCompliance.ts';

let n = 0;
linkCompliance('in-memory link', async () => {
  n++;
  return memoryLinkPair(`m${n}b`, `m${n}a`);
}, { buffers: false, timeoutMs: 30_000 });
