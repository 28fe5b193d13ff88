/**
 * Who fetched which shards: per dataset, per peer (the `?peer=` a worker names itself by on
 * its shard requests; unnamed requests count as "-"), how many fetches, bytes and distinct
 * shards. Figures for the owner and the benchmarks, not a security control: a peer id is a
 * claim. Bounded: at most MAX_PEERS peers per dataset (the oldest forgotten) and MAX_DATASETS
 * datasets.
 */
const MAX_PEERS = 256;
const MAX_DATASETS = 1024;
const PEER = /^[A-Za-z0-9_-]{1,64}$/;

export interface PeerShardStats {
  fetches: number;
  bytes: number;
  /** distinct shards fetched */
  shards: number;
  /** which (the first 1024) */
  hashes: string[];
}

export class ShardCounters {
  private readonly byDataset = new Map<string, Map<string, { fetches: number; bytes: number; shards: Set<string> }>>();

  count(datasetId: string, peer: string | null, hash: string, bytes: number) {
    let peers = this.byDataset.get(datasetId);
    if (!peers) {
      if (this.byDataset.size >= MAX_DATASETS) this.byDataset.delete(this.byDataset.keys().next().value!);
      peers = new Map();
      this.byDataset.set(datasetId, peers);
    }
    const who = peer && PEER.test(peer) ? peer : '-';
    let p = peers.get(who);
    if (!p) {
      if (peers.size >= MAX_PEERS) peers.delete(peers.keys().next().value!);
      p = { fetches: 0, bytes: 0, shards: new Set() };
      peers.set(who, p);
    }
    p.fetches++;
    p.bytes += bytes;
    p.shards.add(hash);
  }

  of(datasetId: string): Record<string, PeerShardStats> {
    const out: Record<string, PeerShardStats> = {};
    for (const [peer, p] of this.byDataset.get(datasetId) ?? []) out[peer] = { fetches: p.fetches, bytes: p.bytes, shards: p.shards.size, hashes: [...p.shards].slice(0, 1024) };
    return out;
  }

  forget(datasetId: string) {
    this.byDataset.delete(datasetId);
  }
}
