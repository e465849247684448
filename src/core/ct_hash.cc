#include "core/ct_hash.h"

#include <algorithm>
#include <cstring>
#include <mutex>
#include <new>

namespace netfence::core {

namespace {

// An entry is tag << 26 | (slab id + 1) << 1 | dir.
constexpr unsigned kTagShift = 26;
constexpr uint32_t kIdMask = (uint32_t(1) << kTagShift) - 1;

inline uint64_t Mix(uint64_t h, uint64_t w) {
  h = (h ^ w) * 0x9E3779B97F4A7C15ull;
  return h ^ (h >> 32);
}

// The slab's free list and chunk count; chunks_ entries are written under
// the lock before any id in them is handed out.
struct SlabState {
  std::mutex mu;
  uint32_t chunks = 0;
  uint32_t free_head = Conn::kNoSlab;  // free entries hold the next id
};

SlabState& Slab() {
  static SlabState* s = new SlabState;  // never destroyed: entries outlive
  return *s;                            // any static destructor order
}

}  // namespace

// What a tracked flow costs in the slab (on LP64): the size is part of the
// conntrack memory budget (bench/conntrack_bench.cc), so growth is a
// decision, not an accident.
static_assert(sizeof(void*) != 8 || sizeof(Conn) <= 136);

Conn* ConnSlab::chunks_[ConnSlab::kMaxChunks];

Conn* ConnSlab::New() {
  SlabState& s = Slab();
  uint32_t id;
  {
    std::lock_guard<std::mutex> lock(s.mu);
    if (s.free_head == Conn::kNoSlab) {
      if (s.chunks == kMaxChunks) throw std::bad_alloc();
      // Raw storage: each entry is constructed when handed out.
      auto* chunk = static_cast<Conn*>(::operator new(
          sizeof(Conn) * kChunk, std::align_val_t(alignof(Conn))));
      const uint32_t base = s.chunks << kChunkBits;
      for (uint32_t i = 0; i < kChunk; ++i) {
        const uint32_t next = i + 1 < kChunk ? base + i + 1 : s.free_head;
        std::memcpy(static_cast<void*>(chunk + i), &next, sizeof next);
      }
      chunks_[s.chunks++] = chunk;
      s.free_head = base;
    }
    id = s.free_head;
    std::memcpy(&s.free_head, static_cast<void*>(At(id)), sizeof id);
  }
  Conn* ct = new (At(id)) Conn();
  ct->slab_id = id;
  return ct;
}

void ConnSlab::Delete(Conn* ct) {
  const uint32_t id = ct->slab_id;
  ct->~Conn();
  SlabState& s = Slab();
  std::lock_guard<std::mutex> lock(s.mu);
  std::memcpy(static_cast<void*>(ct), &s.free_head, sizeof s.free_head);
  s.free_head = id;
}

void ConnSlab::Release(Conn* ct) {
  if (ct->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) Delete(ct);
}

std::shared_ptr<Conn> ConnSlab::Ref(Conn* ct) {
  Hold(ct);
  return std::shared_ptr<Conn>(ct, &ConnSlab::Release);
}

size_t ConnSlab::MemoryBytes() {
  SlabState& s = Slab();
  std::lock_guard<std::mutex> lock(s.mu);
  return size_t(s.chunks) * kChunk * sizeof(Conn);
}

CtHash::CtHash() : slots_(1024, 0), mask_(1023) {}

uint64_t CtHash::Hash(const Tuple& t, uint16_t zone) {
  // A multiply-xorshift over the key's words: a few cycles, where a byte
  // loop over the 42-byte key takes a long dependency chain.
  uint64_t w[4];
  std::memcpy(w, t.src.b.data(), 16);
  std::memcpy(w + 2, t.dst.b.data(), 16);
  uint64_t h = 0x243F6A8885A308D3ull;
  for (uint64_t x : w) h = Mix(h, x);
  h = Mix(h, uint64_t(t.sport) | uint64_t(t.dport) << 16 |
                 uint64_t(t.proto) << 32 | uint64_t(t.family) << 40 |
                 uint64_t(zone) << 48);
  return h ^ (h >> 29);
}

Conn* CtHash::Ptr(uint32_t e) const {
  const uint32_t v = tags_ ? e & kIdMask : e;
  return ConnSlab::At((v >> 1) - 1);
}

uint32_t CtHash::Entry(const Conn* ct, CtDir dir, uint64_t h) const {
  const uint32_t tag = tags_ ? uint32_t(h >> (64 - (32 - kTagShift))) : 0;
  return tag << kTagShift | (ct->slab_id + 1) << 1 | uint32_t(dir);
}

bool CtHash::Tagged(uint32_t e, uint64_t h) const {
  return !tags_ || (e >> kTagShift) == uint32_t(h >> (64 - (32 - kTagShift)));
}

size_t CtHash::Home(uint32_t e) const {
  const Conn* ct = Ptr(e);
  return size_t(Hash(ct->tuple[e & 1], ct->zone)) & mask_;
}

CtHash::Hit CtHash::Find(const Tuple& t, uint16_t zone) const {
  const uint64_t h = Hash(t, zone);
  for (size_t i = size_t(h) & mask_;; i = (i + 1) & mask_) {
    const uint32_t e = slots_[i];
    if (e == 0) return {};
    if (!Tagged(e, h)) continue;
    Conn* ct = Ptr(e);
    const CtDir dir = CtDir(e & 1);
    if (ct->zone == zone && ct->tuple[dir] == t) return {ct, dir};
  }
}

void CtHash::FindBurst(const Tuple* const* ts, uint16_t zone, size_t n,
                       Hit* out) const {
  constexpr size_t kChunk = 16;
  uint64_t h[kChunk];
  for (size_t base = 0; base < n; base += kChunk) {
    const size_t m = std::min(kChunk, n - base);
    for (size_t i = 0; i < m; ++i) {
      h[i] = Hash(*ts[base + i], zone);
      __builtin_prefetch(&slots_[size_t(h[i]) & mask_]);
    }
    for (size_t i = 0; i < m; ++i) {
      // The connection of the first entry with the right hash bits is, all
      // but always, the one Find will compare with: fetch the lines of its
      // tuple of that direction and of its zone.
      for (size_t j = size_t(h[i]) & mask_;; j = (j + 1) & mask_) {
        const uint32_t e = slots_[j];
        if (e == 0) break;
        if (Tagged(e, h[i])) {
          const Conn* ct = Ptr(e);
          __builtin_prefetch(&ct->tuple[e & 1]);
          __builtin_prefetch(&ct->zone);
          break;
        }
      }
    }
    for (size_t i = 0; i < m; ++i) out[base + i] = Find(*ts[base + i], zone);
  }
}

void CtHash::Set(Conn* ct, CtDir dir) {
  if (tags_ && ct->slab_id + 1 > (kIdMask >> 1)) {
    // Drop the tags for good and re-place every entry without them.
    std::vector<uint32_t> old(slots_.size(), 0);
    old.swap(slots_);
    count_ = 0;
    std::vector<std::pair<Conn*, CtDir>> entries;
    for (uint32_t e : old)
      if (e != 0) entries.push_back({Ptr(e), CtDir(e & 1)});
    tags_ = false;
    for (const auto& [c, d] : entries) Set(c, d);
  }
  if ((count_ + 1) * 4 > slots_.size() * 3) Grow();
  const Tuple& t = ct->tuple[dir];
  const uint64_t h = Hash(t, ct->zone);
  for (size_t i = size_t(h) & mask_;; i = (i + 1) & mask_) {
    const uint32_t e = slots_[i];
    if (e == 0) {
      slots_[i] = Entry(ct, dir, h);
      ++count_;
      return;
    }
    if (!Tagged(e, h)) continue;
    const Conn* o = Ptr(e);
    if (o->zone == ct->zone && o->tuple[e & 1] == t) {
      slots_[i] = Entry(ct, dir, h);  // the key now maps to ct
      return;
    }
  }
}

void CtHash::EraseIf(const Conn* ct, CtDir dir) {
  const Tuple& t = ct->tuple[dir];
  const uint64_t h = Hash(t, ct->zone);
  size_t i = size_t(h) & mask_;
  for (;; i = (i + 1) & mask_) {
    const uint32_t e = slots_[i];
    if (e == 0) return;
    if (!Tagged(e, h)) continue;
    const Conn* o = Ptr(e);
    if (o->zone == ct->zone && o->tuple[e & 1] == t) {
      if (o != ct) return;
      break;
    }
  }
  // Backward-shift deletion: later entries of the run move up so no probe
  // sequence is broken (no tombstones).
  slots_[i] = 0;
  --count_;
  for (size_t j = (i + 1) & mask_;; j = (j + 1) & mask_) {
    const uint32_t e = slots_[j];
    if (e == 0) return;
    const size_t home = Home(e);
    // e may fill the hole at i if its home is not in (i, j].
    const bool stays =
        i <= j ? (home > i && home <= j) : (home > i || home <= j);
    if (stays) continue;
    slots_[i] = e;
    slots_[j] = 0;
    i = j;
  }
}

void CtHash::Grow() {
  std::vector<uint32_t> old(slots_.size() * 2, 0);
  old.swap(slots_);
  mask_ = slots_.size() - 1;
  count_ = 0;
  for (uint32_t e : old) {
    if (e == 0) continue;
    const Conn* ct = Ptr(e);
    const uint64_t h = Hash(ct->tuple[e & 1], ct->zone);
    size_t i = size_t(h) & mask_;
    while (slots_[i] != 0) i = (i + 1) & mask_;
    slots_[i] = e;
    ++count_;
  }
}

}  // namespace netfence::core
