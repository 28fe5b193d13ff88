/**
 * Caps on what a job's model may cost. A stranger can post a job, and the server builds its
 * model once (server/vetting/vetSpec.ts) and every volunteer tab trains it, so each cap bounds
 * memory or time somewhere: the server's build, a tab's forward/backward pass, the ring's
 * per-step traffic (the all-reduced vector is trainableParams + BN sums + 5 float32 values).
 */
export interface VettingLimits {
  /** trainable parameters: each step all-reduces 4 bytes per parameter over WebRTC */
  maxTrainableParams: number;
  /** all parameters, trainable or not (e.g. batch-norm statistics): what the server's build allocates */
  maxTotalParams: number;
  /** floats per sample summed over every layer's output: a tab keeps them for the backward pass */
  maxActivationFloatsPerSample: number;
  /** activation bytes of a whole batch (floats per sample × 4 × batchSize), checked by vetSpec */
  maxActivationBytesPerBatch: number;
  /** multiply-accumulates per sample of the forward pass, a rough measure of a tab's compute */
  maxMacsPerSample: number;
  maxLayers: number;
  /** inputs of a functional model (each takes its part of the dataset's feature vector) */
  maxModelInputs: number;
  /** branches one merge layer (Add, Concatenate, …) joins */
  maxMergeInputs: number;
  /** any one axis of any layer's output, and any size field (units, filters, input_dim, ...) */
  maxDimension: number;
  /** kernel, pool, stride, dilation, padding and up-sampling sizes */
  maxWindow: number;
  /** elements of a weight with an Orthogonal or Identity initializer: tfjs builds those with a QR decomposition */
  maxOrthogonalElements: number;
}

export const DEFAULT_VETTING_LIMITS: Readonly<VettingLimits> = Object.freeze({
  maxTrainableParams: 20_000_000,
  maxTotalParams: 25_000_000,
  maxActivationFloatsPerSample: 16 * 1024 * 1024, // 64 MiB of float32 per sample
  maxActivationBytesPerBatch: 2 * 1024 ** 3,
  maxMacsPerSample: 2e9,
  maxLayers: 256,
  maxModelInputs: 16,
  maxMergeInputs: 32,
  maxDimension: 1 << 20,
  maxWindow: 64,
  maxOrthogonalElements: 1 << 20,
});
