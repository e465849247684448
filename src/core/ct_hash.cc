#include "core/ct_hash.h"

#include <algorithm>
#include <cstring>

namespace netfence::core {

namespace {

constexpr uint64_t kTagShift = 48;
constexpr uint64_t kPtrMask = (uint64_t(1) << kTagShift) - 1;

inline uint64_t Mix(uint64_t h, uint64_t w) {
  h = (h ^ w) * 0x9E3779B97F4A7C15ull;
  return h ^ (h >> 32);
}

}  // namespace

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

Conn* CtHash::Ptr(uint64_t e) const {
  const uint64_t p = (tags_ ? e & kPtrMask : e) & ~uint64_t(1);
  return reinterpret_cast<Conn*>(uintptr_t(p));
}

uint64_t CtHash::Entry(Conn* ct, CtDir dir, uint64_t h) const {
  const uint64_t tag = tags_ ? (h >> kTagShift) << kTagShift : 0;
  return uint64_t(uintptr_t(ct)) | uint64_t(dir) | tag;
}

bool CtHash::Tagged(uint64_t e, uint64_t h) const {
  return !tags_ || (e >> kTagShift) == (h >> kTagShift);
}

size_t CtHash::Home(uint64_t e) const {
  const Conn* ct = Ptr(e);
  return size_t(Hash(ct->tuple[e & 1], ct->zone)) & mask_;
}

CtHash::Hit CtHash::Find(const Tuple& t, uint16_t zone) const {
  const uint64_t h = Hash(t, zone);
  for (size_t i = size_t(h) & mask_;; i = (i + 1) & mask_) {
    const uint64_t e = slots_[i];
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
      // but always, the one Find will compare with.
      for (size_t j = size_t(h[i]) & mask_;; j = (j + 1) & mask_) {
        const uint64_t e = slots_[j];
        if (e == 0) break;
        if (Tagged(e, h[i])) {
          __builtin_prefetch(Ptr(e));
          break;
        }
      }
    }
    for (size_t i = 0; i < m; ++i) out[base + i] = Find(*ts[base + i], zone);
  }
}

void CtHash::Set(Conn* ct, CtDir dir) {
  if (tags_ && (uint64_t(uintptr_t(ct)) & ~kPtrMask) != 0) {
    // Drop the tags for good and re-place every entry without them.
    std::vector<uint64_t> old(slots_.size(), 0);
    old.swap(slots_);
    count_ = 0;
    std::vector<std::pair<Conn*, CtDir>> entries;
    for (uint64_t e : old)
      if (e != 0) entries.push_back({Ptr(e), CtDir(e & 1)});
    tags_ = false;
    for (const auto& [c, d] : entries) Set(c, d);
  }
  if ((count_ + 1) * 4 > slots_.size() * 3) Grow();
  const Tuple& t = ct->tuple[dir];
  const uint64_t h = Hash(t, ct->zone);
  for (size_t i = size_t(h) & mask_;; i = (i + 1) & mask_) {
    const uint64_t e = slots_[i];
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
    const uint64_t e = slots_[i];
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
    const uint64_t e = slots_[j];
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
  std::vector<uint64_t> old(slots_.size() * 2, 0);
  old.swap(slots_);
  mask_ = slots_.size() - 1;
  count_ = 0;
  for (uint64_t e : old) {
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
