// connlimit match: how many tracked connections share the packet's source
// (or destination) network (xt_connlimit, revision 1, with nf_conncount's
// bookkeeping). Each rule keeps its own lists of connection tuples; a
// tuple counts while the tracker still has that connection (asked through
// PacketServices::FindConn) and, for TCP, until it reaches TIME_WAIT or
// CLOSE. Lists are cleaned at most once per jiffy (HZ=250), as the kernel
// does, which lets a second packet in the same jiffy add its tuple again.
#include <fmt/format.h>

#include <cmath>
#include <cstring>
#include <map>
#include <mutex>
#include <vector>

#include "core/addr.h"
#include "core/conn.h"
#include "core/xt.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

enum OptId : unsigned { kOUpto, kOAbove, kOMask, kOSaddr, kODaddr };

enum : uint8_t { kFInvert = 1 << 0, kFDaddr = 1 << 1 };

constexpr int64_t kHz = 250;
constexpr unsigned kGcMaxNodes = 8;  // CONNCOUNT_GC_MAX_NODES
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

// CountList is one nf_conncount_list.
struct CountList {
  std::vector<Counted> conns;
  uint32_t last_gc = 0;
};

// AlreadyClosed: TCP connections in TIME_WAIT or CLOSE no longer count.
bool AlreadyClosed(const Conn& c) {
  return c.tuple[kDirOriginal].proto == 6 &&
         (c.tcp().state == kTcpTimeWait || c.tcp().state == kTcpClose);
}

// PacketTuple builds the tuple of a packet without an entry
// (nf_ct_get_tuplepr); false when its headers are too short.
bool PacketTuple(const XtParams& p, Tuple& t) {
  const Packet& skb = *p.skb;
  const bool v4 = skb.family == Family::kIPv4;
  const uint8_t* h = skb.HeaderPointer(0, v4 ? 20 : 40);
  if (h == nullptr) return false;
  t.family = skb.family;
  const size_t alen = v4 ? 4 : 16;
  std::memcpy(t.src.b.data(), h + (v4 ? 12 : 8), alen);
  std::memcpy(t.dst.b.data(), h + (v4 ? 16 : 24), alen);
  t.proto = v4 ? h[9] : p.l4proto;
  switch (t.proto) {
    case 6:
    case 17:
    case 33:
    case 132:
    case 136: {
      const uint8_t* ph = skb.HeaderPointer(p.thoff, 4);
      if (ph == nullptr) return false;
      t.sport = Load16(ph);
      t.dport = Load16(ph + 2);
      break;
    }
    case 1:
    case 58: {
      const uint8_t* ih = skb.HeaderPointer(p.thoff, 8);
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
    const Conn* ct = skb.ctinfo == CtInfo::kUntracked ? nullptr : skb.ct;
    Tuple tuple;
    uint16_t zone = 0;
    if (ct != nullptr) {
      tuple = ct->tuple[kDirOriginal];
      zone = ct->zone;
    } else if (!PacketTuple(p, tuple)) {
      p.hotdrop = true;
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
    const Key key{ApplyMask(addr, mask_).b, zone};
    const uint32_t now = Jiffies32(p.state ? p.state->now : skb.tstamp);
    const unsigned connections = Count(p.svc, key, tuple, zone, now);
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

  // Count adds the tuple to its key's list and returns the list's size
  // (nf_conncount_count).
  unsigned Count(PacketServices* svc, const Key& key, const Tuple& tuple,
                 uint16_t zone, uint32_t now) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = lists_.find(key);
    if (it == lists_.end() || it->second.conns.empty()) {
      CountList& l = lists_[key];
      l.conns.assign(1, Counted{tuple, zone});
      l.last_gc = now;
      return 1;
    }
    CountList& l = it->second;
    if (l.last_gc != now) {
      unsigned collect = 0;
      for (size_t i = 0; i < l.conns.size();) {
        if (collect > kGcMaxNodes) break;
        const Counted& c = l.conns[i];
        const Conn* found = svc ? svc->FindConn(c.tuple, c.zone) : nullptr;
        if (found == nullptr) {
          // Gone from the tracker (one CPU: the entry is always stale).
          l.conns.erase(l.conns.begin() + i);
          ++collect;
          continue;
        }
        if (c.tuple == tuple && found->zone == zone) return l.conns.size();
        if (AlreadyClosed(*found)) {
          l.conns.erase(l.conns.begin() + i);
          ++collect;
          continue;
        }
        ++i;
      }
    }
    l.conns.push_back(Counted{tuple, zone});
    l.last_gc = now;
    return unsigned(l.conns.size());
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
