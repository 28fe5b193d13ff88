/**
 * Named errors with stable codes. Every module throws a TabswarmError (or a subclass)
 * so callers, logs and wire messages can switch on `code` rather than on message text.
 */
export type ErrorCode =
  | 'BAD_REQUEST'
  | 'BAD_JOB_SPEC'
  /** a job's model failed the server's vetting (server/vetting/): a layer, a field, a shape or a size cap */
  | 'MODEL_REJECTED'
  | 'UNKNOWN_JOB'
  | 'UNKNOWN_PEER'
  | 'NOT_A_MEMBER'
  | 'PROTOCOL_MISMATCH'
  | 'UNAUTHORIZED'
  | 'RATE_LIMITED'
  | 'TIMEOUT'
  | 'ABORTED'
  | 'LINK_CLOSED'
  | 'LINK_FAILED'
  | 'STEP_ABORTED'
  | 'HASH_MISMATCH'
  | 'FRAME_TOO_SHORT'
  | 'FRAME_BAD_MAGIC'
  | 'FRAME_BAD_VERSION'
  | 'FRAME_BAD_PHASE'
  | 'FRAME_BAD_ENCODING'
  | 'FRAME_BAD_LENGTH'
  | 'FRAME_WRONG_JOB'
  | 'FRAME_STALE'
  | 'FRAME_MISROUTED'
  | 'FRAME_DUPLICATE'
  | 'FRAME_NON_FINITE'
  | 'FRAME_OVERFLOW'
  | 'FRAME_OUT_OF_BOUNDS'
  | 'JOB_FINISHED'
  | 'DATASET_UNKNOWN'
  // an uploaded dataset (server/datasets/): a file that does not parse, too many bytes, an upload cut short, deleting one a job trains on
  | 'DATASET_INVALID'
  | 'DATASET_TOO_LARGE'
  | 'DATASET_INCOMPLETE'
  | 'DATASET_IN_USE'
  // the store's total quota would be exceeded by an upload
  | 'QUOTA_EXCEEDED'
  // a job's loss does not fit its dataset's task (server/vetting/vetTask.ts)
  | 'TASK_MISMATCH'
  | 'BACKEND_UNAVAILABLE'
  | 'INTERNAL'
  // a message outside its sender's role (server/messagePolicy.ts)
  | 'WRONG_STATE'
  | 'NOT_IN_RING'
  | 'STALE_STEP'
  | 'REPLAYED'
  | 'NOT_ALLOWED'
  | 'TOO_MANY_VIOLATIONS'
  // a job quarantined after an internal failure; final weights not (yet) there
  | 'JOB_FAILED'
  | 'WEIGHTS_PENDING'
  /** a prediction job's outputs are asked for before every unit is settled */
  | 'PREDICTIONS_PENDING'
  | 'WEIGHTS_UNAVAILABLE'
  | 'UPLOAD_REJECTED'
  // no relay candidate: TURN unreachable or its credentials refused
  | 'ICE_NO_RELAY';

export class TabswarmError extends Error {
  readonly code: ErrorCode;
  /** the remote peer this error is about, when there is one (a failed link's other end) */
  readonly peer: string | undefined;
  /** the message without the code in front, for wire errors that carry the code separately */
  readonly detail: string;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; peer?: string }) {
    super(`${code}: ${message}`, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TabswarmError';
    this.code = code;
    this.detail = message;
    this.peer = options?.peer;
  }
}

export class FrameError extends TabswarmError {
  /** `peer`: the neighbour the frame came from */
  constructor(code: ErrorCode, message: string, peer?: string) {
    super(code, message, peer === undefined ? undefined : { peer });
    this.name = 'FrameError';
  }
}

export class TimeoutError extends TabswarmError {
  constructor(what: string, ms: number) {
    super('TIMEOUT', `${what} timed out after ${ms} ms`);
    this.name = 'TimeoutError';
  }
}

export function errorCode(err: unknown): ErrorCode {
  return err instanceof TabswarmError ? err.code : 'INTERNAL';
}

/** Race a promise against a timeout whose message says what timed out. */
export function withTimeout<T>(what: string, ms: number, p: Promise<T>, signal?: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new TimeoutError(what, ms)), ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason instanceof Error ? signal.reason : new TabswarmError('ABORTED', `${what} aborted`));
    };
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}
