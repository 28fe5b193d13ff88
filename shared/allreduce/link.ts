/**
 * A Link is one ordered, reliable, message-oriented connection to a peer. Transports
 * (simple-peer data channels in browsers and on node-datachannel, an in-memory pair for unit
 * tests) adapt to it; the ring never sees a transport.
 */
export interface Link {
  readonly remoteId: string;
  /** queue a message; the link copies it before returning, so the caller may reuse the buffer at once (the ring's pooled frames rely on this) */
  send(data: Uint8Array): void;
  /** bytes queued and not yet handed to the network */
  readonly bufferedAmount: number;
  /** resolves when bufferedAmount <= lowWater (or rejects when the link closes) */
  drained(lowWater: number): Promise<void>;
  onMessage(cb: (data: Uint8Array) => void): () => void;
  onClose(cb: (err?: Error) => void): () => void;
  readonly closed: boolean;
  close(err?: Error): void;
}
