/**
 * Owner controls: pause, resume, stop, learning rate, model download. Each calls an
 * owner-only REST route with the Bearer token; without the owner's token they are disabled
 * (and the server refuses them anyway).
 */
import type { PublicSummary } from '../../shared/dashboardProtocol.ts';
import { api, ApiError } from './api.ts';
import { h } from './dom.ts';

export interface Controls {
  root: HTMLElement;
  update(summary: PublicSummary | null, owner: boolean, learningRate: number | null): void;
}

function saveFile(name: string, data: BlobPart, type: string) {
  const url = URL.createObjectURL(new Blob([data], { type }));
  const a = h('a', { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

export function createControls(jobId: string, token: () => string | null): Controls {
  const note = h('p', { class: 'note', id: 'control-note', role: 'status' });
  const say = (text: string, bad = false) => {
    note.textContent = text;
    note.classList.toggle('bad', bad);
  };
  const run = async (what: string, fn: () => Promise<string>) => {
    say(`${what}…`);
    try {
      say(await fn());
    } catch (e) {
      say(e instanceof ApiError ? `${what} refused: ${e.code}: ${e.detail}` : `${what} failed: ${(e as Error).message}`, true);
    }
  };
  const action = (a: 'pause' | 'resume' | 'stop', label: string) =>
    h('button', { type: 'button', id: `btn-${a}`, class: a === 'stop' ? 'danger' : '', onclick: () => void run(label, async () => `job ${(await api.control(jobId, a, token())).status}`) }, label);
  const pause = action('pause', 'Pause');
  const resume = action('resume', 'Resume');
  const stop = action('stop', 'Stop');
  const lr = h('input', { id: 'lr', type: 'number', step: 'any', min: '0', max: '10', 'aria-label': 'learning rate' });
  const setLr = h('button', {
    type: 'button', id: 'btn-lr',
    onclick: () => void run('Learning rate', async () => `learning rate ${(await api.learningRate(jobId, Number(lr.value), token())).learningRate} from the next step`),
  }, 'Set learning rate');
  const download = h('button', {
    type: 'button', id: 'btn-download', class: 'primary',
    onclick: () =>
      void run('Download', async () => {
        const m = await api.model(jobId, token());
        saveFile('model.json', JSON.stringify(m.modelJson), 'application/json');
        saveFile('weights.bin', m.weights, 'application/octet-stream');
        return `downloaded the model at step ${m.step} (weights hash ${m.hash}): model.json + weights.bin for tf.loadLayersModel`;
      }),
  }, 'Download model');
  const root = h('section', { class: 'controls', id: 'controls' },
    h('div', { class: 'row' }, pause, resume, stop, h('span', { class: 'sep' }), lr, setLr, h('span', { class: 'sep' }), download),
    note,
  );
  let lrShown: number | null = null;
  return {
    root,
    update(summary, owner, learningRate) {
      const st = summary?.status;
      const over = st === 'done' || st === 'stopped' || st === 'failed';
      pause.disabled = !owner || !(st === 'running' || st === 'waiting');
      resume.disabled = !owner || st !== 'paused';
      stop.disabled = !owner || over || !st;
      lr.disabled = setLr.disabled = !owner || over;
      download.disabled = !owner;
      if (learningRate !== null && learningRate !== lrShown && document.activeElement !== lr) {
        lr.value = String(learningRate);
        lrShown = learningRate;
      }
      if (!owner) root.title = 'controls need the job owner token';
      else root.removeAttribute('title');
    },
  };
}
