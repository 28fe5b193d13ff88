/**
 * Uploaded datasets on the dashboard: upload a file with a progress bar (streamed by the
 * browser to POST /api/datasets), the list of stored datasets, and a preview of one — its
 * first rows as a table, or, for images (features [h, w, 1 or 3]), a grid of samples drawn on
 * a canvas. The preview route reads only the dataset's first shard(s).
 */
import { api, ApiError, uploadDataset, type DatasetPreview, type StoredDataset } from './api.ts';
import { $, h } from './dom.ts';

const FORMAT_BY_EXT: Record<string, string> = { csv: 'csv', jsonl: 'jsonl', ndjson: 'jsonl', npy: 'npy', npz: 'npz', zip: 'idx' };
const MAX_COLUMNS = 12;

export const shapeText = (s: readonly number[] | null) => (s ? `[${s.join(', ')}]` : '—');
const isImage = (s: readonly number[]) => s.length === 3 && (s[2] === 1 || s[2] === 3) && s[0]! >= 4 && s[1]! >= 4;

export function mountDatasets(root: HTMLElement, onList: (list: StoredDataset[]) => void) {
  const file = h('input', { id: 'ds-file', type: 'file', accept: '.csv,.jsonl,.ndjson,.npy,.npz,.zip' });
  const format = h('select', { id: 'ds-format' }, h('option', { value: '' }, 'from the file name'), ...['csv', 'jsonl', 'npy', 'npz', 'idx'].map((f) => h('option', { value: f }, f)));
  const label = h('input', { id: 'ds-label', type: 'text', placeholder: 'label column (csv) or index (npy)' });
  const task = h('select', { id: 'ds-task' }, h('option', { value: '' }, 'inferred from the labels'), h('option', { value: 'regression' }, 'regression (numeric targets)'), h('option', { value: 'classification' }, 'classification (class labels)'));
  const name = h('input', { id: 'ds-name', type: 'text', placeholder: 'name' });
  const button = h('button', { id: 'ds-upload', class: 'primary', type: 'button' }, 'Upload');
  const progress = h('progress', { id: 'ds-progress', max: 1, value: 0 });
  const status = h('p', { id: 'ds-status', class: 'detail', role: 'status' });
  const tbody = h('tbody');
  const table = h('table', { id: 'ds-list', class: 'members' },
    h('thead', {}, h('tr', {}, ...['name', 'id', 'task', 'features', 'classes / target', 'samples', ''].map((c) => h('th', {}, c)))), tbody);
  const preview = h('div', { id: 'ds-preview' });
  root.replaceChildren(
    h('h2', {}, 'Datasets'),
    h('div', { class: 'create-form' },
      h('label', { class: 'field' }, h('span', {}, 'File'), file),
      h('label', { class: 'field' }, h('span', {}, 'Format'), format),
      h('label', { class: 'field' }, h('span', {}, 'Label'), label),
      h('label', { class: 'field' }, h('span', {}, 'Task'), task),
      h('label', { class: 'field' }, h('span', {}, 'Name'), name),
      h('div', { class: 'actions' }, button, progress)),
    status, table, preview);

  let list: StoredDataset[] = [];
  async function refresh() {
    list = await api.datasets();
    tbody.replaceChildren(...list.map((d) => h('tr', { 'data-id': d.id },
      h('td', {}, d.name), h('td', { class: 'mono' }, d.id), h('td', {}, d.task), h('td', {}, shapeText(d.featureShape)),
      h('td', {}, d.task === 'classification' ? `${d.numClasses} classes` : shapeText(d.targetShape)), h('td', {}, d.size),
      h('td', {}, h('button', { class: 'small', type: 'button', 'data-preview': d.id, onclick: () => void show(d.id) }, 'Preview')))));
    onList(list);
  }

  async function show(id: string) {
    const d = list.find((x) => x.id === id);
    try {
      const p = await api.preview(id, d && isImage(d.featureShape) ? 16 : 10);
      preview.replaceChildren(h('h3', {}, `Preview: ${d?.name ?? id}`), isImage(p.featureShape) ? imageGrid(p) : rowTable(p));
      preview.dataset.for = id;
    } catch (e) {
      preview.replaceChildren(h('p', { class: 'note bad' }, e instanceof ApiError ? `${e.code}: ${e.detail}` : String(e)));
    }
  }

  button.addEventListener('click', () => {
    const f = file.files?.[0];
    if (!f) {
      status.textContent = 'choose a file first';
      return;
    }
    const fmt = format.value || FORMAT_BY_EXT[f.name.split('.').pop()?.toLowerCase() ?? ''] || '';
    if (!fmt) {
      status.textContent = `cannot tell the format of ${f.name}: choose one`;
      return;
    }
    button.disabled = true;
    progress.value = 0;
    status.textContent = `uploading ${f.name}…`;
    uploadDataset(f, { format: fmt, label: label.value.trim() || undefined, name: name.value.trim() || f.name, task: task.value || undefined }, (sent, total) => {
      progress.value = total > 0 ? sent / total : 0;
      progress.dataset.sent = String(sent);
    })
      .then(async (d) => {
        progress.value = 1;
        status.textContent = d.deduplicated ? `already stored as ${d.id}` : `stored as ${d.id} (${d.size} samples, ${d.task}); owner token, shown once: ${d.ownerToken}`;
        await refresh();
        await show(d.id);
      })
      .catch((e: unknown) => {
        status.textContent = e instanceof ApiError ? `${e.code}: ${e.detail}` : String(e);
        status.classList.add('bad');
      })
      .finally(() => {
        button.disabled = false;
      });
  });

  void refresh().catch((e: unknown) => (status.textContent = `cannot list datasets: ${(e as Error).message}`));
  return { refresh, element: (sel: string) => $(sel, root) };
}

const num = (v: number) => String(Number(v.toPrecision(7)));

function rowTable(p: DatasetPreview): HTMLElement {
  const F = p.rows[0]?.x.length ?? 0;
  const cols = Math.min(F, MAX_COLUMNS);
  const yHead = p.task === 'classification' ? (p.label ?? 'label') : `${p.label ?? 'target'} ${shapeText(p.targetShape)}`;
  const head = h('tr', {}, ...Array.from({ length: cols }, (_, i) => h('th', {}, `x${i}`)), F > cols ? h('th', {}, `… ${F - cols} more`) : null, h('th', {}, yHead));
  // float32 as its shortest decimal (7 significant digits): 9.837, not 9.8369998
  const body = p.rows.map((r) => h('tr', {},
    ...r.x.slice(0, cols).map((v) => h('td', {}, num(v))), F > cols ? h('td', {}, '…') : null,
    h('td', {}, Array.isArray(r.y) ? r.y.map(num).join(', ') : r.class !== undefined ? `${r.class} (${r.y})` : String(r.y))));
  return h('table', { class: 'members preview-rows' }, h('thead', {}, head), h('tbody', {}, ...body));
}

/** samples as small images, scaled from the preview's own min..max to 0..255 */
function imageGrid(p: DatasetPreview): HTMLElement {
  const [H, W, C] = p.featureShape as [number, number, number];
  let lo = Infinity;
  let hi = -Infinity;
  for (const r of p.rows) for (const v of r.x) (lo = Math.min(lo, v)), (hi = Math.max(hi, v));
  const scale = hi > lo ? 255 / (hi - lo) : 0;
  const cells = p.rows.map((r) => {
    const canvas = h('canvas', { width: W, height: H, class: 'sample' });
    const ctx = canvas.getContext('2d');
    if (ctx) {
      const img = ctx.createImageData(W, H);
      for (let i = 0; i < W * H; i++) {
        for (let c = 0; c < 3; c++) img.data[i * 4 + c] = (r.x[i * C + (C === 3 ? c : 0)]! - lo) * scale;
        img.data[i * 4 + 3] = 255;
      }
      ctx.putImageData(img, 0, 0);
    }
    return h('figure', {}, canvas, h('figcaption', {}, r.class ?? (Array.isArray(r.y) ? r.y.join(', ') : String(r.y))));
  });
  return h('div', { class: 'preview-grid' }, ...cells);
}
