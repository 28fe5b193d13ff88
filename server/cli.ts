/**
 * The `tabswarm` command: serve | workers | demo | bench.
 */
import './tfjsQuiet.ts';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createTabswarmServer } from './app.ts';
import { runDemo } from './demo.ts';
import { createLogger } from './log.ts';
import { reexecInLoopbackNamespace } from './netns.ts';
import { startWorkers } from './workers.ts';

const USAGE = `tabswarm — a volunteer compute swarm in browser tabs

  tabswarm serve   [--port 8080] [--host 127.0.0.1] [--data ./data] [--dist ./dist]
                   [--allow-origin https://other.example]...
                   [--max-params N]  (trainable parameters a job's model may have; default 20,000,000)
                   [--dataset-quota BYTES] [--max-upload BYTES]  (uploaded datasets: all of them, one upload;
                   default 20 GiB and 2 GiB)
                   [--stun stun:HOST:PORT]... [--turn turn:HOST:PORT]... [--turn-secret S] [--turn-ttl SEC]
                   (or TABSWARM_STUN, TABSWARM_TURN, TABSWARM_TURN_SECRET; members get short-lived
                   TURN credentials, never the secret)
  tabswarm workers --url JOIN_URL [--count 2] [--backend webgl|wasm|cpu|webgpu] [--headful]
                   [--uplink-mbit 50]   (pace ring traffic under this uplink rate)
                   [--loopback-netns]   (run in a loopback-only namespace, for a local server)
  tabswarm demo    [--workers 3] [--preset mnist-mlp] [--steps N] [--train-size N] [--test-size N]
                   [--backend NAME] [--uplink-mbit M] [--verify] [--json] [--timeout 900]
  tabswarm bench   [allreduce|tune|collectives|compression|training|control|backends|chaos|predict|all]
                   [--quick] [--json]   (tables on stdout, results in bench/results/<name>.json;
                   --quick writes <name>.quick.json)
  tabswarm bench summary                (the saved results as Markdown)
  tabswarm dataset add FILE [--label COL] [--format csv|jsonl|npy|npz|idx] [--name NAME] [--task regression|classification]
                   [--url http://127.0.0.1:8080]   (upload; prints the id and the owner token)
  tabswarm dataset ls [--url http://127.0.0.1:8080]
  tabswarm predict --model DIR|JOB_ID --data DATASET|FILE --out preds.npy|.csv|.jsonl
                   [--replicas 1|2] [--workers N] [--backend NAME] [--url URL] [--token JOB_OWNER_TOKEN]
                   [--split all|train|test] [--label COL] [--unit-size N] [--timeout 900]
                   (without --url: a server in this process; --workers N: headless workers)

The demo and the benches re-run themselves in a loopback-only network namespace when run as
root (set TABSWARM_NETNS=off to stay on the host network); workers stay on the host network.`;

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  const print = (l: string) => process.stdout.write(l + '\n');
  switch (cmd) {
    case 'serve': {
      const { values } = parseArgs({
        args: rest,
        options: {
          port: { type: 'string', default: '8080' }, host: { type: 'string', default: '127.0.0.1' }, data: { type: 'string', default: './data' },
          dist: { type: 'string', default: './dist' }, 'allow-origin': { type: 'string', multiple: true, default: [] },
          stun: { type: 'string', multiple: true }, turn: { type: 'string', multiple: true }, 'turn-secret': { type: 'string' }, 'turn-ttl': { type: 'string' },
          'max-params': { type: 'string' }, 'dataset-quota': { type: 'string' }, 'max-upload': { type: 'string' },
        },
      });
      const num = (v: string | undefined) => (v === undefined ? undefined : Number(v));
      const quotaBytes = num(values['dataset-quota']);
      const maxUploadBytes = num(values['max-upload']);
      const maxTrainableParams = num(values['max-params']);
      if (!existsSync(join(values.dist, 'index.html'))) {
        process.stderr.write(`tabswarm: no built pages in ${values.dist} (the volunteer and dashboard pages would answer 404): run \`npx vite build\` first, or \`npm run serve\`, which builds them\n`);
      }
      const s = await createTabswarmServer({
        port: Number(values.port), host: values.host, distDir: values.dist, dataDir: values.data, allowedOrigins: values['allow-origin'], log: createLogger('info'),
        ice: { stun: values.stun, turn: values.turn, turnSecret: values['turn-secret'], ...(values['turn-ttl'] ? { turnTtlSec: Number(values['turn-ttl']) } : {}) },
        datasets: { ...(quotaBytes !== undefined ? { quotaBytes } : {}), ...(maxUploadBytes !== undefined ? { maxUploadBytes } : {}) },
        ...(maxTrainableParams !== undefined ? { vetting: { maxTrainableParams, maxTotalParams: Math.max(maxTrainableParams, 25_000_000) } } : {}),
      });
      print(`tabswarm serving on ${s.url} — POST ${s.url}/api/jobs to create a job`);
      const stop = () => void s.close().then(() => process.exit(0));
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      return new Promise(() => {});
    }
    case 'workers': {
      const { values } = parseArgs({
        args: rest,
        options: { url: { type: 'string' }, count: { type: 'string', default: '2' }, backend: { type: 'string' }, headful: { type: 'boolean', default: false }, 'uplink-mbit': { type: 'string' }, 'loopback-netns': { type: 'boolean', default: false } },
      });
      // workers connect to a URL, local or remote: they stay on the host's network unless told
      // (the demo and the tests isolate themselves; --loopback-netns does the same here)
      if (values['loopback-netns'] && process.env.TABSWARM_NETNS !== '1') {
        const ns = reexecInLoopbackNamespace();
        if (ns !== null) return ns;
      }
      if (!values.url) throw new Error('--url is required (the job link from POST /api/jobs)');
      const uplink = values['uplink-mbit'] === undefined ? undefined : Number(values['uplink-mbit']);
      if (uplink !== undefined && !(uplink > 0)) throw new Error('--uplink-mbit must be a positive number (Mbit/s)');
      const swarm = await startWorkers({ url: values.url, count: Number(values.count), backend: values.backend, uplinkMbit: uplink, headless: !values.headful, loopbackOnly: process.env.TABSWARM_NETNS === '1' });
      print(`${values.count} workers on ${values.url}`);
      const timer = setInterval(async () => {
        const views = await swarm.views();
        print(views.map((v, i) => `#${i} ${v ? `${v.state} ${v.backend} step ${v.step}/${v.steps} loss ${v.loss?.toFixed(4) ?? '—'}` : 'closed'}`).join(' | '));
        if (views.every((v) => !v || v.state === 'done' || v.state === 'error')) {
          clearInterval(timer);
          await swarm.close();
          process.exit(0);
        }
      }, 2000);
      return new Promise(() => {});
    }
    case 'bench': {
      const ns = process.env.TABSWARM_NETNS === 'off' ? null : reexecInLoopbackNamespace();
      if (ns !== null) return ns;
      const { values, positionals } = parseArgs({ args: rest, allowPositionals: true, options: { quick: { type: 'boolean', default: false }, json: { type: 'boolean', default: false } } });
      const { runBenches } = await import('../bench/src/index.ts');
      await runBenches(positionals, { quick: values.quick, json: values.json, print });
      return 0;
    }
    case 'demo': {
      const ns = process.env.TABSWARM_NETNS === 'off' ? null : reexecInLoopbackNamespace();
      if (ns !== null) return ns;
      const { values } = parseArgs({
        args: rest,
        options: {
          workers: { type: 'string', default: '3' }, preset: { type: 'string', default: 'mnist-mlp' }, steps: { type: 'string' },
          'train-size': { type: 'string' }, 'test-size': { type: 'string' }, backend: { type: 'string' }, 'uplink-mbit': { type: 'string' }, verify: { type: 'boolean', default: false },
          json: { type: 'boolean', default: false }, port: { type: 'string', default: '0' }, timeout: { type: 'string', default: '900' },
        },
      });
      const num = (s: string | undefined) => (s === undefined ? undefined : Number(s));
      const result = await runDemo({
        workers: Number(values.workers), preset: values.preset, steps: num(values.steps), trainSize: num(values['train-size']), testSize: num(values['test-size']),
        backend: values.backend, uplinkMbit: num(values['uplink-mbit']), verify: values.verify, json: values.json, port: Number(values.port), timeoutS: Number(values.timeout), print,
      });
      if (values.json) print(JSON.stringify(result));
      return 0;
    }
    case 'predict': {
      // a local server and its workers stay on loopback, as the demo's do
      if (!rest.includes('--url')) {
        const ns = process.env.TABSWARM_NETNS === 'off' ? null : reexecInLoopbackNamespace();
        if (ns !== null) return ns;
      }
      const { predictCommand } = await import('./prediction/cli.ts');
      return predictCommand(rest, print);
    }
    case 'dataset': {
      const { datasetCommand } = await import('./datasets/cli.ts');
      return datasetCommand(rest, print);
    }
    default:
      print(USAGE);
      return cmd === undefined || cmd === 'help' || cmd === '--help' ? 0 : 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`tabswarm: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);
