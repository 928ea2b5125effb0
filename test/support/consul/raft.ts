/** The one raft-like index every write raises, KV and catalog alike (Consul's single state store). */
export interface Raft {
  /** The index of the last write. */
  index: number;
}
