/**
 * The graph of a functional tfjs model (several inputs or branches joined by merge layers, one
 * output), as indices into `model.layers`: what the replica's own training forward pass walks
 * (shared/replica.ts). tfjs orders `model.layers` by depth, so every layer comes after the
 * layers it reads; the vetter (server/vetting/vetGraph.ts) has refused shared layers (applied
 * more than once) and several outputs, so each layer has one inbound node.
 */
import type * as tfjs from '@tensorflow/tfjs';
import { TabswarmError } from './errors.ts';

/** A functional model's layer graph, by index into model.layers. */
export interface Graph {
  /** indices of each layer's inbound layers (empty for an input) */
  inbound: number[][];
  /** the index of input k */
  inputs: number[];
  output: number;
}

interface LayerNode {
  inboundNodes: { inboundLayers: unknown[] }[];
}

/** The graph of a functional model; null for a Sequential one, which is a chain. */
export function layerGraph(model: tfjs.LayersModel): Graph | null {
  if (model.getClassName() === 'Sequential') return null;
  const at = new Map<unknown, number>(model.layers.map((l, i) => [l, i]));
  const index = (l: unknown) => {
    const i = at.get(l);
    if (i === undefined) fail('a layer of the graph is not among the model\u2019s layers');
    return i;
  };
  const inbound = model.layers.map((l) => {
    const nodes = (l as unknown as LayerNode).inboundNodes;
    if (l.getClassName() === 'InputLayer') return [];
    if (nodes.length !== 1) fail(`layer ${l.name} is applied ${nodes.length} times`);
    return nodes[0]!.inboundLayers.map(index);
  });
  if (model.outputLayers.length !== 1) fail(`the model has ${model.outputLayers.length} outputs`);
  return { inbound, inputs: model.inputLayers.map(index), output: index(model.outputLayers[0]) };
}

/** Throws an internal error: a graph the vetter should have refused. */
export function fail(message: string): never {
  throw new TabswarmError('INTERNAL', message);
}
