/**
 * Create a job: a preset model, a small model fitted to an uploaded dataset (autoModel.ts), or
 * an uploaded tfjs Layers model.json; the dataset (built in or uploaded), the loss (which
 * names the task), optimizer and hyperparameters. Checked with the shared job-spec schema before sending, and every
 * error — the schema's or the server's `field.path: message` — is shown next to its field.
 */
import { jobSpecSchema } from '../../shared/jobSpec.ts';
import { LOSSES, lossTask, type LossName } from '../../shared/losses.ts';
import { api, ApiError, type Presets, type StoredDataset } from './api.ts';
import { autoModel } from './autoModel.ts';
import { $, h } from './dom.ts';
import { saveToken } from './token.ts';

const PRESET_LABELS: Record<string, string> = {
  'iris-mlp': 'Iris MLP', 'mnist-mlp': 'MNIST MLP', 'mnist-cnn': 'MNIST CNN', 'sotu-char': 'SOTU char model',
};
const UPLOAD = 'upload';
const AUTO = 'auto';
const LOSS_LABELS: Record<LossName, string> = {
  categoricalCrossentropy: 'categorical cross-entropy (classification)',
  sparseCategoricalCrossentropy: 'sparse categorical cross-entropy (classification)',
  binaryCrossentropy: 'binary cross-entropy (labels 0/1)',
  meanSquaredError: 'mean squared error (regression)',
  meanAbsoluteError: 'mean absolute error (regression)',
  huber: 'Huber (regression)',
};

interface FieldDef {
  path: string;
  label: string;
  kind: 'text' | 'number' | 'select';
  options?: [string, string][];
  /** shown only when this returns true */
  when?: (f: FormData) => boolean;
  hint?: string;
}

const idFor = (path: string) => `f-${path.replace(/\./g, '-')}`;

export function mountCreateForm(root: HTMLElement, p: Presets, onCreated: (id: string) => void) {
  const opt = (f: FormData) => String(f.get('optimizer.name'));
  const loss = (f: FormData) => String(f.get('loss') || 'categoricalCrossentropy') as LossName;
  let stored: StoredDataset[] = [];
  const storedOf = (f: FormData) => stored.find((d) => d.id === String(f.get('dataset.id')));
  const fields: FieldDef[] = [
    { path: 'name', label: 'Job name', kind: 'text' },
    { path: 'dataset.id', label: 'Dataset', kind: 'select', options: p.datasets.map((d) => [d.id, d.title]) },
    { path: 'loss', label: 'Loss (the task)', kind: 'select', options: LOSSES.map((l) => [l, LOSS_LABELS[l]]) },
    { path: 'fromLogits', label: 'Model outputs', kind: 'select', options: [['', 'probabilities'], ['true', 'logits']], when: (f) => lossTask(loss(f)) !== 'regression' && loss(f) !== 'categoricalCrossentropy' },
    { path: 'huberDelta', label: 'Huber δ', kind: 'number', when: (f) => loss(f) === 'huber' },
    { path: 'standardize', label: 'Features', kind: 'select', options: [['', 'as uploaded'], ['true', 'standardised (upload statistics)']], when: (f) => storedOf(f) !== undefined },
    { path: 'dataset.trainSize', label: 'Training samples (0 = all)', kind: 'number' },
    { path: 'dataset.testSize', label: 'Test samples (0 = all)', kind: 'number' },
    { path: 'optimizer.name', label: 'Optimizer', kind: 'select', options: [['sgd', 'SGD'], ['momentum', 'SGD + momentum'], ['adam', 'Adam']] },
    { path: 'optimizer.learningRate', label: 'Learning rate', kind: 'number' },
    { path: 'optimizer.momentum', label: 'Momentum', kind: 'number', when: (f) => opt(f) === 'momentum' },
    { path: 'optimizer.beta1', label: 'β1', kind: 'number', when: (f) => opt(f) === 'adam' },
    { path: 'optimizer.beta2', label: 'β2', kind: 'number', when: (f) => opt(f) === 'adam' },
    { path: 'optimizer.epsilon', label: 'ε', kind: 'number', when: (f) => opt(f) === 'adam' },
    { path: 'batchSize', label: 'Global batch size', kind: 'number' },
    { path: 'steps', label: 'Steps', kind: 'number' },
    { path: 'minWorkers', label: 'Workers before the first step', kind: 'number' },
    { path: 'evalEvery', label: 'Test evaluation every K steps (0 = end only)', kind: 'number' },
    { path: 'checkpointEvery', label: 'Checkpoint every K steps', kind: 'number' },
    { path: 'seed', label: 'Seed', kind: 'number' },
    { path: 'backend', label: 'Backend', kind: 'select', options: [['', 'each worker picks its fastest'], ['webgpu', 'require WebGPU'], ['webgl', 'require WebGL'], ['wasm', 'require WASM'], ['cpu', 'require CPU']] },
  ];
  const presetSel = h('select', { id: 'f-preset', name: 'preset' },
    ...p.presets.map((n) => h('option', { value: n }, PRESET_LABELS[n] ?? n)), h('option', { value: AUTO }, 'Small MLP for the chosen dataset'),
    h('option', { value: UPLOAD }, 'Upload a tfjs Layers model.json…'));
  const file = h('input', { id: 'f-model', type: 'file', accept: '.json,application/json', name: 'modelFile' });
  const errorSpan = (path: string) => h('span', { class: 'field-error', 'data-error-for': path, id: `${idFor(path)}-error`, role: 'alert' });
  const modelRow = h('label', { class: 'field', 'data-path': 'model' }, h('span', {}, 'Model file (model.json)'), file, errorSpan('model'));
  const rows = fields.map((f) => {
    const input = f.kind === 'select'
      ? h('select', { id: idFor(f.path), name: f.path }, ...f.options!.map(([v, l]) => h('option', { value: v }, l)))
      : h('input', { id: idFor(f.path), name: f.path, type: f.kind, ...(f.kind === 'number' ? { step: 'any' } : {}) });
    return { def: f, row: h('label', { class: 'field', 'data-path': f.path }, h('span', {}, f.label), input, errorSpan(f.path)) };
  });
  const formError = h('p', { class: 'field-error', id: 'form-error', role: 'alert' });
  const submit = h('button', { type: 'submit', class: 'primary', id: 'create-submit' }, 'Create job');
  const form = h('form', { id: 'create-form', class: 'create-form', novalidate: true },
    h('label', { class: 'field', 'data-path': 'preset' }, h('span', {}, 'Model'), presetSel, errorSpan('preset')),
    modelRow, ...rows.map((r) => r.row), h('div', { class: 'actions' }, submit, formError));
  root.replaceChildren(h('h2', {}, 'Create a job'), form);

  const input = (path: string) => form.querySelector<HTMLInputElement | HTMLSelectElement>(`[name="${path}"]`)!;
  const setValue = (path: string, v: unknown) => {
    const el = input(path);
    if (el) el.value = v === undefined || v === null ? '' : String(v);
  };
  const refresh = () => {
    const fd = new FormData(form);
    modelRow.hidden = presetSel.value !== UPLOAD;
    for (const r of rows) r.row.hidden = r.def.when ? !r.def.when(fd) : false;
  };
  const applyPreset = () => {
    const spec = p.specs[presetSel.value];
    if (spec) {
      setValue('loss', spec.loss ?? 'categoricalCrossentropy');
      const ds = (spec.dataset ?? {}) as Record<string, unknown>;
      const o = (spec.optimizer ?? {}) as Record<string, unknown>;
      const flat: Record<string, unknown> = {
        name: spec.name, 'dataset.id': ds.id, 'dataset.trainSize': ds.trainSize ?? 0, 'dataset.testSize': ds.testSize ?? 0,
        'optimizer.name': o.name, 'optimizer.learningRate': o.learningRate, 'optimizer.momentum': o.momentum ?? 0.9,
        'optimizer.beta1': o.beta1 ?? 0.9, 'optimizer.beta2': o.beta2 ?? 0.999, 'optimizer.epsilon': o.epsilon ?? 1e-7,
        batchSize: spec.batchSize, steps: spec.steps, minWorkers: spec.minWorkers ?? 1, evalEvery: spec.evalEvery ?? 0,
        checkpointEvery: spec.checkpointEvery ?? 25, seed: spec.seed ?? 1, backend: spec.backend ?? '',
      };
      for (const [k, v] of Object.entries(flat)) setValue(k, v);
    }
    refresh();
  };
  presetSel.addEventListener('change', applyPreset);
  const datasetSel = input('dataset.id') as HTMLSelectElement;
  // an uploaded dataset: the small model, and a loss of its task
  datasetSel.addEventListener('change', () => {
    const d = storedOf(new FormData(form));
    if (!d) return;
    presetSel.value = presetSel.value === UPLOAD ? UPLOAD : AUTO;
    const task = lossTask(loss(new FormData(form)));
    if (d.task === 'regression' && task !== 'regression') setValue('loss', 'meanSquaredError');
    if (d.task === 'classification' && task === 'regression') setValue('loss', d.numClasses === 2 ? 'binaryCrossentropy' : 'sparseCategoricalCrossentropy');
    refresh();
  });
  /** the dataset choices: the built-ins, then the uploaded ones */
  const setStoredDatasets = (list: StoredDataset[]) => {
    stored = list;
    const keep = datasetSel.value;
    datasetSel.replaceChildren(
      ...p.datasets.map((d) => h('option', { value: d.id }, d.title)),
      ...list.map((d) => h('option', { value: d.id }, `${d.name} (uploaded, ${d.task}, ${d.size} samples)`)),
    );
    if ([...datasetSel.options].some((o) => o.value === keep)) datasetSel.value = keep;
    refresh();
  };
  form.addEventListener('change', refresh);
  applyPreset();

  const clearErrors = () => {
    for (const e of form.querySelectorAll<HTMLElement>('.field-error')) e.textContent = '';
    for (const e of form.querySelectorAll('.field.invalid')) e.classList.remove('invalid');
  };
  /** next to the field for `path` or its nearest parent (model.config.layers → model), else under the form */
  const showError = (path: string, message: string) => {
    const parts = path.split('.');
    let known: HTMLElement | null = null;
    for (let n = parts.length; n > 0 && !known; n--) known = form.querySelector<HTMLElement>(`[data-error-for="${parts.slice(0, n).join('.')}"]`);
    const target = known ?? formError;
    const shown = known?.dataset.errorFor === path ? message : `${path}: ${message}`;
    target.textContent = target.textContent ? `${target.textContent}; ${shown}` : shown;
    known?.closest('.field')?.classList.add('invalid');
  };
  form.addEventListener('input', (e) => {
    const field = (e.target as HTMLElement).closest('.field');
    field?.classList.remove('invalid');
    const err = field?.querySelector('.field-error');
    if (err) err.textContent = '';
  });

  async function modelTopology(): Promise<unknown> {
    if (presetSel.value === AUTO) {
      const fd = new FormData(form);
      const d = storedOf(fd);
      if (!d) throw new FieldError('preset', 'the small MLP is built for an uploaded dataset: choose one under Dataset');
      return autoModel({ featureShape: d.featureShape, numClasses: d.numClasses, targetShape: d.targetShape, loss: loss(fd), fromLogits: fd.get('fromLogits') === 'true' });
    }
    if (presetSel.value !== UPLOAD) return p.specs[presetSel.value]?.model;
    const f = file.files?.[0];
    if (!f) throw new FieldError('model', 'choose a model.json file');
    let j: Record<string, unknown>;
    try {
      j = JSON.parse(await f.text()) as Record<string, unknown>;
    } catch {
      throw new FieldError('model', 'the file is not JSON');
    }
    const topo = (j.modelTopology ?? j) as Record<string, unknown>;
    return topo.model_config ?? topo;
  }

  function specFromForm(model: unknown): Record<string, unknown> {
    const fd = new FormData(form);
    const num = (k: string) => (String(fd.get(k) ?? '').trim() === '' ? undefined : Number(fd.get(k)));
    const o = opt(fd);
    const backend = String(fd.get('backend') ?? '');
    const l = loss(fd);
    const shown = (path: string) => !rows.find((r) => r.def.path === path)?.row.hidden;
    return {
      name: String(fd.get('name') ?? ''), model, loss: l,
      ...(shown('fromLogits') && fd.get('fromLogits') === 'true' ? { fromLogits: true } : {}),
      ...(shown('huberDelta') && num('huberDelta') !== undefined ? { huberDelta: num('huberDelta') } : {}),
      ...(shown('standardize') && fd.get('standardize') === 'true' ? { standardize: true } : {}),
      optimizer: { name: o, learningRate: num('optimizer.learningRate'),
        ...(o === 'momentum' ? { momentum: num('optimizer.momentum') } : {}),
        ...(o === 'adam' ? { beta1: num('optimizer.beta1'), beta2: num('optimizer.beta2'), epsilon: num('optimizer.epsilon') } : {}) },
      dataset: { id: String(fd.get('dataset.id')), trainSize: num('dataset.trainSize'), testSize: num('dataset.testSize') },
      batchSize: num('batchSize'), steps: num('steps'), minWorkers: num('minWorkers'), evalEvery: num('evalEvery'),
      checkpointEvery: num('checkpointEvery'), seed: num('seed'), ...(backend ? { backend } : {}),
    };
  }

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    clearErrors();
    void (async () => {
      try {
        const spec = specFromForm(await modelTopology());
        const r = jobSpecSchema.safeParse(spec);
        if (!r.success) {
          for (const i of r.error.issues) showError(i.path.join('.') || '(root)', i.message);
          return;
        }
        submit.disabled = true;
        const created = await api.create(spec);
        saveToken(created.id, created.ownerToken);
        onCreated(created.id);
      } catch (err) {
        if (err instanceof FieldError) return showError(err.path, err.message);
        if (err instanceof ApiError) {
          const m = /^([\w.]+|\(root\)): (.*)$/s.exec(err.detail);
          return m ? showError(m[1]!, m[2]!) : showError('(root)', `${err.code}: ${err.detail}`);
        }
        showError('(root)', (err as Error).message);
      } finally {
        submit.disabled = false;
      }
    })();
  });
  return { form, field: (path: string) => $(`[data-path="${path}"]`, form), setStoredDatasets };
}

class FieldError extends Error {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(message);
    this.name = 'FieldError';
  }
}
