#include "core/ct_expect.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "core/addr.h"
#include "core/ct_hash.h"

namespace netfence::core {

namespace {

// SrcMaskCmp compares the source of two tuples under an address and port
// mask, and their family and protocol (nf_ct_tuple_src_mask_cmp).
bool SrcMaskCmp(const Tuple& a, const Tuple& b, const Addr& mask,
                uint16_t port_mask) {
  if (a.family != b.family || a.proto != b.proto) return false;
  for (size_t i = 0; i < 16; ++i)
    if ((a.src.b[i] ^ b.src.b[i]) & mask.b[i]) return false;
  return ((a.sport ^ b.sport) & port_mask) == 0;
}

bool DstEqual(const Tuple& a, const Tuple& b) {
  return a.dst == b.dst && a.dport == b.dport && a.proto == b.proto &&
         a.family == b.family;
}

// Clash: two expectations that some tuple would fulfil both (the part of
// the source both masks cover is equal, the rest exact), in one zone.
bool Clash(const CtExpectation& a, const CtExpectation& b) {
  Addr m;
  for (size_t i = 0; i < 16; ++i) m.b[i] = a.src_mask.b[i] & b.src_mask.b[i];
  return SrcMaskCmp(a.tuple, b.tuple, m, a.sport_mask & b.sport_mask) &&
         DstEqual(a.tuple, b.tuple) && a.zone == b.zone;
}

// Same: the very same expectation (tuple and mask), in one zone.
bool Same(const CtExpectation& a, const CtExpectation& b) {
  return a.tuple == b.tuple && a.src_mask == b.src_mask &&
         a.sport_mask == b.sport_mask && a.zone == b.zone;
}

// ProcAddr prints an address as %pI4 / %pI6 do (IPv6 uncompressed).
std::string ProcAddr(Family f, const Addr& a) {
  if (f == Family::kIPv4) return FormatAddr(f, a);
  std::string s;
  for (int i = 0; i < 16; i += 2)
    s += fmt::format("{}{:02x}{:02x}", i ? ":" : "", a.b[i], a.b[i + 1]);
  return s;
}

}  // namespace

bool ExpectMatches(const CtExpectation& e, const Tuple& t) {
  return SrcMaskCmp(t, e.tuple, e.src_mask, e.sport_mask) &&
         DstEqual(t, e.tuple);
}

void CtExpectTable::Expire(double now) {
  std::erase_if(v_, [now](const CtExpectation& e) { return e.expires <= now; });
}

size_t CtExpectTable::Size(double now) {
  Expire(now);
  return v_.size();
}

int CtExpectTable::Related(CtExpectation e, const CtExpectPolicy& p,
                           double now) {
  Expire(now);
  for (size_t i = 0; i < v_.size(); ++i) {
    const CtExpectation& o = v_[i];
    if (o.master == e.master && Same(o, e)) {
      if (o.cls != e.cls) return kExpectAlready;
      v_.erase(v_.begin() + long(i));  // replaced by the new one
      break;
    }
    if (Clash(o, e)) return kExpectBusy;
  }
  if (p.max_expected) {
    auto mine = [&](const CtExpectation& o) {
      return o.master == e.master && o.cls == e.cls;
    };
    if (size_t(std::count_if(v_.begin(), v_.end(), mine)) >= p.max_expected) {
      // Evict the master's oldest of the class (the last in newest-first
      // order); with max_expected 1 that makes room.
      auto it = std::find_if(v_.rbegin(), v_.rend(), mine);
      v_.erase(std::next(it).base());
      if (size_t(std::count_if(v_.begin(), v_.end(), mine)) >= p.max_expected)
        return kExpectFull;
    }
  }
  if (v_.size() >= max_) return kExpectFull;
  e.expires = now + p.timeout;
  v_.insert(v_.begin(), e);
  return 0;
}

bool CtExpectTable::Find(const Tuple& t, uint16_t zone, double now,
                         CtExpectation* out) {
  Expire(now);
  for (size_t i = 0; i < v_.size(); ++i) {
    const CtExpectation& e = v_[i];
    if (e.zone != zone || !ExpectMatches(e, t)) continue;
    // The first match decides: a master not yet confirmed (its packet has
    // not left the host) or dying fulfils nothing.
    const uint32_t st = e.master->status.load();
    if (!(st & kIpsConfirmed) || (st & kIpsDying)) return false;
    *out = e;
    if (!e.permanent) v_.erase(v_.begin() + long(i));
    return true;
  }
  return false;
}

void CtExpectTable::RemoveMaster(const Conn* master) {
  std::erase_if(
      v_, [master](const CtExpectation& e) { return e.master == master; });
}

std::vector<std::string> CtExpectTable::List(double now) const {
  std::vector<std::string> out;
  for (const CtExpectation& e : v_) {
    if (e.expires <= now) continue;
    const Tuple& t = e.tuple;
    std::string s =
        fmt::format("{} l3proto = {} proto={} src={} dst={} ",
                    int64_t(std::floor(e.expires - now + 1e-7)),
                    t.family == Family::kIPv4 ? 2 : 10, t.proto,
                    ProcAddr(t.family, t.src), ProcAddr(t.family, t.dst));
    if (t.proto == 6 || t.proto == 17 || t.proto == 132 || t.proto == 136 ||
        t.proto == 33)
      s += fmt::format("sport={} dport={} ", t.sport, t.dport);
    if (e.permanent) s += "PERMANENT";
    const std::string& helper = e.master->helper;
    if (!helper.empty()) s += (e.permanent ? " " : "") + helper;
    out.push_back(s);
  }
  return out;
}

void ReleaseMaster(const Conn* master) {
  // Only entries of the slab are counted (a test's stand-alone Conn is not).
  if (master->slab_id != Conn::kNoSlab)
    ConnSlab::Release(const_cast<Conn*>(master));
}

}  // namespace netfence::core
