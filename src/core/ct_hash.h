// Where core/conntrack keeps its entries: a slab of connections with 32-bit
// ids, and the confirmed-connection hash, a tuple in a zone to the
// connection holding it and the direction. The hash is an open-addressing
// table of 4-byte entries with linear probing: each entry is the
// connection's slab id, the direction in its low bit and 6 bits of the
// key's hash in its top bits. The keys live in the connections themselves
// (tuple[dir], zone), so a lookup reads one table slot and the connection
// it finds, where a node-based map reads a bucket, a node and then the
// connection; and the table costs 4 bytes per slot instead of a node per
// key (two keys per connection, at most 3/4 full).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "core/conn.h"

namespace netfence::core {

// ConnSlab is the process-wide store of tracked connections (the kernel's
// nf_conntrack slab cache): entries of exactly sizeof(Conn) bytes, no
// allocator header, in chunks of 1024, each with a 32-bit id (its index)
// that the hash stores instead of a pointer. An entry lives while it has
// references (Conn::refs): the table's and those of the packets holding it.
// Thread-safe; chunks are never returned to the system, freed entries are
// reused.
class ConnSlab {
 public:
  // New constructs an entry with no references.
  static Conn* New();
  // At is the entry of an id New returned.
  static Conn* At(uint32_t id) {
    return chunks_[id >> kChunkBits] + (id & (kChunk - 1));
  }
  // Ref takes a reference for a packet (Packet::ct_ref): the entry is freed
  // when it drops the last one.
  static std::shared_ptr<Conn> Ref(Conn* ct);
  // Hold takes a reference; Release drops one and frees the entry with the
  // last.
  static void Hold(Conn* ct) {
    ct->refs.fetch_add(1, std::memory_order_relaxed);
  }
  static void Release(Conn* ct);
  // MemoryBytes is the heap the slab holds (all its chunks).
  static size_t MemoryBytes();

 private:
  // Chunks of 1024 entries (139 KB): small tables stay small, and the
  // chunk array a lookup indexes stays in L1 up to a million entries.
  static constexpr unsigned kChunkBits = 10;
  static constexpr uint32_t kChunk = 1u << kChunkBits;
  static constexpr uint32_t kMaxChunks = 1u << 18;  // 2^28 entries
  static void Delete(Conn* ct);
  static Conn* chunks_[kMaxChunks];
};

// CtHash maps (tuple, zone) to (connection, direction). Not thread-safe:
// Conntrack's mutex guards it.
class CtHash {
 public:
  // Hit is a found entry (ct nullptr: none).
  struct Hit {
    Conn* ct = nullptr;
    CtDir dir = kDirOriginal;
  };

  CtHash();

  // Find returns the entry of a tuple in a zone.
  Hit Find(const Tuple& t, uint16_t zone) const;
  // FindBurst is Find for n tuples (one zone): it hashes them all and
  // prefetches their slots, then the connections the slots point at, then
  // compares, so the cache misses of the n lookups overlap.
  void FindBurst(const Tuple* const* ts, uint16_t zone, size_t n,
                 Hit* out) const;
  // Set makes ct's tuple of direction dir (in ct's zone) map to ct (an
  // entry of ConnSlab),
  // replacing any entry for that key.
  void Set(Conn* ct, CtDir dir);
  // EraseIf removes the entry of ct's tuple of direction dir if it maps to
  // ct.
  void EraseIf(const Conn* ct, CtDir dir);

  size_t size() const { return count_; }
  // MemoryBytes is the table's heap.
  size_t MemoryBytes() const { return slots_.capacity() * sizeof(uint32_t); }

  // Hash is the key hash (exposed for tests).
  static uint64_t Hash(const Tuple& t, uint16_t zone);

 private:
  Conn* Ptr(uint32_t e) const;
  uint32_t Entry(const Conn* ct, CtDir dir, uint64_t h) const;
  size_t Home(uint32_t e) const;
  bool Tagged(uint32_t e, uint64_t h) const;
  void Grow();

  std::vector<uint32_t> slots_;  // 0: empty
  size_t mask_ = 0;
  size_t count_ = 0;
  // Slab ids of 2^25 and more (over 33 million entries in the process)
  // leave no room for the hash bits: then every probe compares keys.
  bool tags_ = true;
};

}  // namespace netfence::core
