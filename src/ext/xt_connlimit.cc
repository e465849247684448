// connlimit match: how many tracked connections share the packet's source
// (or destination) network (xt_connlimit, revision 1, over nf_conncount as
// kernel 6.18.44 has it: nf_conncount_count_skb with the skb-based API).
// Each rule keeps one list of connection tuples per key (masked address and
// zone); a tuple counts while the tracker still has that connection (asked
// through PacketServices::FindConn) and, for TCP, until it reaches TIME_WAIT
// or CLOSE. A new connection's packet walks its list (at most once per
// jiffy, HZ=250, which lets a second packet in the same jiffy add its tuple
// again) and is added; a confirmed connection's packet is added only while
// the connection is neither assured nor seen as ESTABLISHED (the 6.18 stable
// fix "prevent connlimit drops for early confirmed ct", checked against the
// kernel), else it adds nothing and only has its list cleaned.
//
// What the kernel leaves to chance is modelled by its likeliest outcome:
// - Keys live in rb-trees in 256 slots chosen by a hash with a random seed;
//   inserting a key cleans the lists of the other keys on its search path.
//   With the few keys a rule sees, two keys rarely share a slot, so each key
//   is taken to be alone in its tree: no other list is cleaned then, and the
//   GC worker (scheduled only when such a cleaning emptied a node, and freeing
//   nodes only when 8 of a tree's are empty) never runs. A key whose list
//   emptied therefore keeps its node, and a packet that adds nothing counts
//   0 for it, which the match turns into a hot drop.
// - Jiffies are counted from the first packet (the kernel's phase is not
//   known).
// - An entry the tracker no longer has is dropped at once (the kernel keeps
//   it for two jiffies when another CPU added it; the harness runs on one).
#include <fmt/format.h>

#include <cmath>
#include <cstring>
#include <map>
#include <mutex>
#include <vector>

#include "core/addr.h"
#include "core/conn.h"
#include "core/pktinfo.h"
#include "core/xt.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

enum OptId : unsigned { kOUpto, kOAbove, kOMask, kOSaddr, kODaddr };

enum : uint8_t { kFInvert = 1 << 0, kFDaddr = 1 << 1 };

constexpr int64_t kHz = 250;
constexpr unsigned kGcMaxCollect = 64;  // CONNCOUNT_GC_MAX_COLLECT
constexpr uint8_t kTcpTimeWait = 7;  // TCP_CONNTRACK_TIME_WAIT
constexpr uint8_t kTcpClose = 8;     // TCP_CONNTRACK_CLOSE

uint32_t Jiffies32(double t) {
  return uint32_t(int64_t(std::floor(t * kHz + 1e-6)));
}

// Counted is one nf_conncount_tuple.
struct Counted {
  Tuple tuple;
  uint16_t zone = 0;
};

// CountList is one nf_conncount_list (with its tree node: a node whose
// list emptied stays, see the file comment).
struct CountList {
  std::vector<Counted> conns;
  uint32_t last_gc = 0;        // jiffy of the last walk
  uint32_t last_gc_count = 0;  // the list's length after it
};

// Seen is what nf_conncount learns from a packet (get_ct_or_tuple_from_skb):
// the original tuple of its connection, and how the connection's
// confirmation decides what adding it does (__nf_conncount_add).
struct Seen {
  enum Mode : uint8_t {
    kUnconfirmed,  // a new connection: walk the list unless walked this jiffy
    kSetup,        // confirmed, not assured, not ctinfo ESTABLISHED: walk
    kSkip,         // confirmed and assured or ESTABLISHED: add nothing
  };
  Tuple tuple;
  uint16_t zone = 0;
  Mode mode = kUnconfirmed;
};

// AlreadyClosed: TCP connections in TIME_WAIT or CLOSE no longer count.
bool AlreadyClosed(const Conn& c) {
  return c.tuple[kDirOriginal].proto == 6 &&
         (c.tcp().state == kTcpTimeWait || c.tcp().state == kTcpClose);
}

// PacketTuple builds the tuple of a packet without an entry
// (nf_ct_get_tuplepr); false when it has none.
bool PacketTuple(const XtParams& p, Tuple& t) {
  const Packet& skb = *p.skb;
  const bool v4 = skb.family == Family::kIPv4;
  const uint8_t* h = skb.HeaderPointer(0, v4 ? 20 : 40);
  if (h == nullptr) return false;
  t.family = skb.family;
  const size_t alen = v4 ? 4 : 16;
  std::memcpy(t.src.b.data(), h + (v4 ? 12 : 8), alen);
  std::memcpy(t.dst.b.data(), h + (v4 ? 16 : 24), alen);
  // get_l4proto: no tuple for a non-first fragment or an IPv6 chain that
  // ipv6_skip_exthdr cannot walk (one ending in "no next header").
  unsigned thoff;
  if (v4) {
    if (Load16(h + 6) & 0x1fff) return false;
    t.proto = h[9];
    thoff = (h[0] & 0x0f) * 4u;
  } else {
    uint8_t nh = h[6];
    uint16_t frag_off = 0;
    const int off = Ipv6SkipExthdr(skb, 40, nh, frag_off);
    if (off < 0 || (frag_off & ~0x7) != 0) return false;
    t.proto = nh;
    thoff = unsigned(off);
  }
  switch (t.proto) {
    case 6:
    case 17:
    case 33:
    case 132:
    case 136: {
      const uint8_t* ph = skb.HeaderPointer(thoff, 4);
      if (ph == nullptr) return false;
      t.sport = Load16(ph);
      t.dport = Load16(ph + 2);
      break;
    }
    case 1:
    case 58: {
      const uint8_t* ih = skb.HeaderPointer(thoff, 8);
      if (ih == nullptr) return false;
      t.sport = Load16(ih + 4);  // echo id
      t.dport = uint16_t(ih[0] << 8 | ih[1]);
      break;
    }
    default:
      break;
  }
  return true;
}

// CountBits is libxt_connlimit's count_bits: the prefix length of a mask,
// counting a non-contiguous one from its lowest set bit.
unsigned CountBits(Family f, const Addr& mask) {
  const unsigned words = f == Family::kIPv4 ? 1 : 4;
  unsigned bits = 0;
  for (unsigned w = 0; w < words; ++w)
    for (uint32_t m = ~Load32(&mask.b[w * 4]); m != 0; m >>= 1) ++bits;
  return 32 * words - bits;
}

// ConnlimitMatch is one -m connlimit with its own connection lists
// (nf_conncount_data).
class ConnlimitMatch : public Match {
 public:
  explicit ConnlimitMatch(Family f) : family_(f) {
    mask_ = CidrToMask(f, f == Family::kIPv4 ? 32 : 128);
  }

  void Parse(OptCall& c) override {
    switch (c.id()) {
      case kOAbove:
        limit_ = uint32_t(c.val.u);
        if (c.invert) flags_ |= kFInvert;
        break;
      case kOUpto:
        limit_ = uint32_t(c.val.u);
        if (!c.invert) flags_ |= kFInvert;
        break;
      case kOMask:
        mask_ = PlenMask(c.val.hlen);
        break;
      case kOSaddr:
        flags_ &= ~kFDaddr;
        break;
      case kODaddr:
        flags_ |= kFDaddr;
        break;
    }
  }

  void FinalCheck(FcheckCall& c) override {
    if (!(c.xflags & ((1u << kOUpto) | (1u << kOAbove))))
      throw ParseError(
          "You must specify \"--connlimit-above\" or \"--connlimit-upto\".");
  }

  void Save(SaveCtx& s) const override {
    if (flags_ & kFInvert)
      s.out += fmt::format(" --connlimit-upto {}", limit_);
    else
      s.out += fmt::format(" --connlimit-above {}", limit_);
    s.out += fmt::format(" --connlimit-mask {}", CountBits(family_, mask_));
    s.out += (flags_ & kFDaddr) ? " --connlimit-daddr" : " --connlimit-saddr";
  }

  bool Matches(XtParams& p) const override {
    const Packet& skb = *p.skb;
    Seen seen;
    if (!SeePacket(p, seen)) {
      p.hotdrop = true;  // no tuple: nf_conncount counts 0
      return false;
    }
    const bool v4 = family_ == Family::kIPv4;
    const uint8_t* h = skb.HeaderPointer(0, v4 ? 20 : 40);
    if (h == nullptr) {
      p.hotdrop = true;
      return false;
    }
    const bool daddr = flags_ & kFDaddr;
    Addr addr;
    const size_t alen = v4 ? 4 : 16;
    std::memcpy(addr.b.data(), h + (v4 ? (daddr ? 16 : 12) : (daddr ? 24 : 8)),
                alen);
    // The key's zone is that of the packet's own entry (xt_connlimit reads
    // it before nf_conncount looks anything up).
    const Conn* own = skb.ctinfo == CtInfo::kUntracked ? nullptr : skb.ct;
    const Key key{ApplyMask(addr, mask_).b, own ? own->zone : uint16_t(0)};
    const uint32_t now = Jiffies32(p.state ? p.state->now : skb.tstamp);
    const unsigned connections = Count(p.svc, key, seen, now);
    if (connections == 0) {
      p.hotdrop = true;  // xt_connlimit drops what counts 0
      return false;
    }
    return (connections > limit_) != bool(flags_ & kFInvert);
  }

 private:
  // Key is the masked address and the zone (the kernel's u32 key[]).
  struct Key {
    std::array<uint8_t, 16> addr;
    uint16_t zone;
    auto operator<=>(const Key&) const = default;
  };

  // PlenMask mirrors XTTYPE_PLENMASK: a mask built from the prefix length;
  // a non-contiguous dotted mask has none and leaves all ones.
  Addr PlenMask(uint8_t hlen) const {
    if (hlen > 128) return CidrToMask(family_, 128);
    return CidrToMask(family_, hlen);
  }

  // SeePacket fills seen from the packet's entry, or from its headers and
  // the entry the tracker has for them (get_ct_or_tuple_from_skb); false
  // when the headers give no tuple.
  static bool SeePacket(const XtParams& p, Seen& seen) {
    const Packet& skb = *p.skb;
    const Conn* ct = skb.ctinfo == CtInfo::kUntracked ? nullptr : skb.ct;
    if (ct != nullptr && (ct->status & kIpsTemplate)) ct = nullptr;
    if (ct != nullptr) {
      seen.tuple = ct->tuple[kDirOriginal];
      seen.zone = ct->zone;
    } else {
      if (!PacketTuple(p, seen.tuple)) return false;
      if (p.svc != nullptr) ct = p.svc->FindConn(seen.tuple, seen.zone);
      if (ct == nullptr) return true;
    }
    if (!(ct->status & kIpsConfirmed)) return true;
    // Without an entry of its own the packet's ctinfo is 0 (ESTABLISHED),
    // or UNTRACKED.
    const bool established = (ct->status & kIpsAssured) ||
                              skb.ctinfo == CtInfo::kEstablished;
    seen.mode = established ? Seen::kSkip : Seen::kSetup;
    return true;
  }

  // Count adds the packet's connection to its key's list and returns the
  // list's length (nf_conncount_count_skb: count_tree, insert_tree).
  unsigned Count(PacketServices* svc, const Key& key, const Seen& seen,
                 uint32_t now) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = lists_.find(key);
    if (it == lists_.end()) {
      // A new node holds this tuple, confirmed connection or not.
      CountList& l = lists_[key];
      l.conns.assign(1, Counted{seen.tuple, seen.zone});
      l.last_gc = now;
      l.last_gc_count = 0;
      return 1;
    }
    CountList& l = it->second;
    if (l.conns.empty()) {
      // insert_tree finds the emptied node and adds to it, or, for a
      // packet that adds nothing, returns its count: 0.
      Add(svc, l, seen, now);
      return unsigned(l.conns.size());
    }
    if (!Add(svc, l, seen, now)) GcList(svc, l, now);
    return unsigned(l.conns.size());
  }

  // Add is __nf_conncount_add; false when the packet's connection was
  // confirmed and established, so that nothing was done (-EEXIST).
  static bool Add(PacketServices* svc, CountList& l, const Seen& seen,
                  uint32_t now) {
    if (seen.mode == Seen::kSkip) return false;
    if (seen.mode == Seen::kUnconfirmed && l.last_gc == now &&
        uint32_t(l.conns.size() - l.last_gc_count) < kGcMaxCollect) {
      l.conns.push_back(Counted{seen.tuple, seen.zone});
      return true;
    }
    unsigned collect = 0;
    for (size_t i = 0; i < l.conns.size();) {
      if (collect > kGcMaxCollect) break;
      const Counted& c = l.conns[i];
      const Conn* found = svc ? svc->FindConn(c.tuple, c.zone) : nullptr;
      if (found == nullptr) {
        l.conns.erase(l.conns.begin() + i);
        ++collect;
        continue;
      }
      if (c.tuple == seen.tuple && found->zone == seen.zone) return true;
      if (AlreadyClosed(*found)) {
        l.conns.erase(l.conns.begin() + i);
        ++collect;
        continue;
      }
      ++i;
    }
    l.last_gc = now;
    l.last_gc_count = unsigned(l.conns.size());
    l.conns.push_back(Counted{seen.tuple, seen.zone});
    return true;
  }

  // GcList drops the entries of gone and closed connections, at most once a
  // jiffy (nf_conncount_gc_list).
  static void GcList(PacketServices* svc, CountList& l, uint32_t now) {
    if (l.last_gc == now) return;
    unsigned collected = 0;
    for (size_t i = 0; i < l.conns.size();) {
      const Counted& c = l.conns[i];
      const Conn* found = svc ? svc->FindConn(c.tuple, c.zone) : nullptr;
      if (found == nullptr || AlreadyClosed(*found)) {
        l.conns.erase(l.conns.begin() + i);
        ++collected;
        continue;
      }
      ++i;
      if (collected > kGcMaxCollect) break;
    }
    l.last_gc = now;
    l.last_gc_count = unsigned(l.conns.size());
  }

  Family family_;
  Addr mask_;
  uint32_t limit_ = 0;
  uint8_t flags_ = 0;
  mutable std::mutex mu_;
  mutable std::map<Key, CountList> lists_;
};

std::vector<OptionEntry> Options() {
  const unsigned fupto = 1u << kOUpto, fabove = 1u << kOAbove;
  const unsigned fsaddr = 1u << kOSaddr, fdaddr = 1u << kODaddr;
  return {
      {"connlimit-upto", kOUpto, OptType::kUint32, kOptInvert, fabove},
      {"connlimit-above", kOAbove, OptType::kUint32, kOptInvert, fupto},
      {"connlimit-mask", kOMask, OptType::kPlenMask},
      {"connlimit-saddr", kOSaddr, OptType::kNone, 0, fdaddr},
      {"connlimit-daddr", kODaddr, OptType::kNone, 0, fsaddr},
  };
}

NETFENCE_REGISTER(RegisterMatch({
    .name = "connlimit",
    .revision = 1,
    .family = Family::kIPv4,
    .options = Options(),
    .create = [] { return std::make_unique<ConnlimitMatch>(Family::kIPv4); },
}));

NETFENCE_REGISTER(RegisterMatch({
    .name = "connlimit",
    .revision = 1,
    .family = Family::kIPv6,
    .options = Options(),
    .create = [] { return std::make_unique<ConnlimitMatch>(Family::kIPv6); },
}));

}  // namespace
}  // namespace netfence::ext
