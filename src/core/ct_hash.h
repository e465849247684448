// The confirmed-connection hash of core/conntrack: a tuple in a zone to the
// connection holding it and the direction. An open-addressing table of
// 8-byte entries with linear probing: each entry is the connection pointer,
// the direction in its low bit and 16 bits of the key's hash in its top
// bits. The keys live in the connections themselves (tuple[dir], zone), so
// a lookup reads one table slot and the connection it finds, where a
// node-based map reads a bucket, a node and then the connection; and the
// table costs 8 bytes per slot instead of a node per key.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/conn.h"

namespace netfence::core {

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
  // Set makes ct's tuple of direction dir (in ct's zone) map to ct,
  // replacing any entry for that key.
  void Set(Conn* ct, CtDir dir);
  // EraseIf removes the entry of ct's tuple of direction dir if it maps to
  // ct.
  void EraseIf(const Conn* ct, CtDir dir);

  size_t size() const { return count_; }
  // MemoryBytes is the table's heap.
  size_t MemoryBytes() const { return slots_.capacity() * sizeof(uint64_t); }

  // Hash is the key hash (exposed for tests).
  static uint64_t Hash(const Tuple& t, uint16_t zone);

 private:
  Conn* Ptr(uint64_t e) const;
  uint64_t Entry(Conn* ct, CtDir dir, uint64_t h) const;
  size_t Home(uint64_t e) const;
  bool Tagged(uint64_t e, uint64_t h) const;
  void Grow();

  std::vector<uint64_t> slots_;  // 0: empty
  size_t mask_ = 0;
  size_t count_ = 0;
  // Pointers above 48 bits (never seen on Linux x86-64 / arm64 user space)
  // leave no room for the hash bits: then every probe compares keys.
  bool tags_ = true;
};

}  // namespace netfence::core
