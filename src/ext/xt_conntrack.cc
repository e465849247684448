// conntrack match: the packet's connection tracking state, status, tuples
// and remaining lifetime (xt_conntrack, revision 3: the one iptables 1.8.9
// picks on a 6.x kernel).
#include <fmt/format.h>
#include <strings.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/addr.h"
#include "core/conn.h"
#include "core/xt.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

// State bits (XT_CONNTRACK_STATE_*): bit ctinfo+1 for the tracked states.
enum : uint16_t {
  kStInvalid = 1 << 0,
  kStEstablished = 1 << 1,
  kStRelated = 1 << 2,
  kStNew = 1 << 3,
  kStUntracked = 1 << 6,
  kStSnat = 1 << 8,
  kStDnat = 1 << 9,
};

// Match and invert flags (XT_CONNTRACK_*).
enum : uint16_t {
  kFState = 1 << 0,
  kFProto = 1 << 1,
  kFOrigSrc = 1 << 2,
  kFOrigDst = 1 << 3,
  kFReplSrc = 1 << 4,
  kFReplDst = 1 << 5,
  kFStatus = 1 << 6,
  kFExpires = 1 << 7,
  kFOrigSrcPort = 1 << 8,
  kFOrigDstPort = 1 << 9,
  kFReplSrcPort = 1 << 10,
  kFReplDstPort = 1 << 11,
  kFDirection = 1 << 12,
};

// IPT_INV_PROTO: libxt_conntrack tests this bit of the conntrack invert
// flags (where it is --ctstatus) before recording --ctproto's own.
constexpr uint16_t kIptInvProto = 0x40;

enum OptId : unsigned {
  kOState,
  kOProto,
  kOOrigSrc,
  kOOrigDst,
  kOReplSrc,
  kOReplDst,
  kOOrigSrcPort,
  kOOrigDstPort,
  kOReplSrcPort,
  kOReplDstPort,
  kOStatus,
  kOExpire,
  kODir,
};

constexpr uint64_t kHz = 250;  // CONFIG_HZ of the reference kernel

// Jiffies converts the simulation clock to kernel ticks.
int64_t Jiffies(double t) { return int64_t(std::floor(t * kHz + 1e-6)); }

// StateBit names one state word of --ctstate (a case-insensitive prefix of
// at most len characters, as strncasecmp compares them).
bool StateBit(const char* s, size_t len, uint16_t& mask) {
  static const struct {
    const char* name;
    uint16_t bit;
  } kNames[] = {{"INVALID", kStInvalid},
                {"NEW", kStNew},
                {"ESTABLISHED", kStEstablished},
                {"RELATED", kStRelated},
                {"UNTRACKED", kStUntracked},
                {"SNAT", kStSnat},
                {"DNAT", kStDnat}};
  for (const auto& n : kNames) {
    if (strncasecmp(s, n.name, len) == 0) {
      mask |= n.bit;
      return true;
    }
  }
  return false;
}

bool StatusBit(const char* s, size_t len, uint32_t& mask) {
  static const struct {
    const char* name;
    uint32_t bit;
  } kNames[] = {{"NONE", 0},
                {"EXPECTED", kIpsExpected},
                {"SEEN_REPLY", kIpsSeenReply},
                {"ASSURED", kIpsAssured},
                {"CONFIRMED", kIpsConfirmed}};
  for (const auto& n : kNames) {
    if (strncasecmp(s, n.name, len) == 0) {
      mask |= n.bit;
      return true;
    }
  }
  return false;
}

// ParseList walks a comma list the way conntrack_ps_states does: an empty
// word or an unknown one is an error naming the rest of the list.
template <typename T, typename F>
void ParseList(const std::string& arg, const char* what, T& mask, F word) {
  const char* a = arg.c_str();
  const char* comma;
  while ((comma = strchr(a, ',')) != nullptr) {
    if (comma == a || !word(a, size_t(comma - a), mask))
      throw ParseError(fmt::format("Bad {} \"{}\"", what, a));
    a = comma + 1;
  }
  if (*a == '\0' || !word(a, strlen(a), mask))
    throw ParseError(fmt::format("Bad {} \"{}\"", what, a));
}

void PrintState(std::string& out, uint16_t mask) {
  static const struct {
    uint16_t bit;
    const char* name;
  } kOrder[] = {{kStInvalid, "INVALID"},
                {kStNew, "NEW"},
                {kStRelated, "RELATED"},
                {kStEstablished, "ESTABLISHED"},
                {kStUntracked, "UNTRACKED"},
                {kStSnat, "SNAT"},
                {kStDnat, "DNAT"}};
  const char* sep = " ";
  for (const auto& o : kOrder) {
    if (mask & o.bit) {
      out += sep;
      out += o.name;
      sep = ",";
    }
  }
}

void PrintStatus(std::string& out, uint32_t mask) {
  static const struct {
    uint32_t bit;
    const char* name;
  } kOrder[] = {{kIpsExpected, "EXPECTED"},
                {kIpsSeenReply, "SEEN_REPLY"},
                {kIpsAssured, "ASSURED"},
                {kIpsConfirmed, "CONFIRMED"}};
  const char* sep = " ";
  for (const auto& o : kOrder) {
    if (mask & o.bit) {
      out += sep;
      out += o.name;
      sep = ",";
    }
  }
  if (mask == 0) out += std::string(sep) + "NONE";
}

// MaskSuffix is xtables_ip[6]mask_to_numeric: nothing for a host mask,
// "/len" for a prefix, "/dotted" otherwise.
std::string MaskSuffix(Family f, const Addr& mask) {
  int len = MaskToCidr(f, mask);
  if (len == (f == Family::kIPv4 ? 32 : 128)) return "";
  return "/" + FormatMask(f, mask);
}

bool AddrMatch(Family f, const Addr& k, const Addr& u, const Addr& m) {
  const size_t n = f == Family::kIPv4 ? 4 : 16;
  for (size_t i = 0; i < n; ++i)
    if ((k.b[i] ^ u.b[i]) & m.b[i]) return false;
  return true;
}

// AddrOpt is one of --ctorigsrc ... --ctrepldst.
struct AddrOpt {
  Addr addr, mask;
};

// PortOpt is one of the port range options.
struct PortOpt {
  uint16_t lo = 0, hi = 0;
};

// ConntrackMatch is one -m conntrack: xt_conntrack_mtinfo3 and its test.
class ConntrackMatch : public Match {
 public:
  void Parse(OptCall& c) override {
    const bool inv = c.invert;
    switch (c.id()) {
      case kOState:
        ParseList(c.arg, "ctstate", state_mask_, StateBit);
        Set(kFState, inv);
        break;
      case kOProto:
        l4proto_ = c.val.protocol;
        if (l4proto_ == 0 && (invert_flags_ & kIptInvProto))
          throw ParseError("conntrack: rule would never match protocol");
        Set(kFProto, inv);
        break;
      case kOOrigSrc:
      case kOOrigDst:
      case kOReplSrc:
      case kOReplDst: {
        const unsigned i = c.id() - kOOrigSrc;
        addr_[i].addr = c.val.haddr;
        addr_[i].mask = HostMask(c);
        Set(uint16_t(kFOrigSrc << i), inv);
        break;
      }
      case kOOrigSrcPort:
      case kOOrigDstPort:
      case kOReplSrcPort:
      case kOReplDstPort: {
        const unsigned i = c.id() - kOOrigSrcPort;
        port_[i].lo = uint16_t(c.val.range[0]);
        port_[i].hi = uint16_t(c.val.range[c.val.nvals >= 2 ? 1 : 0]);
        Set(uint16_t(kFOrigSrcPort << i), inv);
        break;
      }
      case kOStatus:
        ParseList(c.arg, "ctstatus", status_mask_, StatusBit);
        Set(kFStatus, inv);
        break;
      case kOExpire:
        expires_min_ = uint32_t(c.val.range[0]);
        expires_max_ = uint32_t(c.val.range[c.val.nvals >= 2 ? 1 : 0]);
        Set(kFExpires, inv);
        break;
      case kODir:
        if (strcasecmp(c.arg.c_str(), "ORIGINAL") == 0) {
          match_flags_ |= kFDirection;
          invert_flags_ &= ~kFDirection;
        } else if (strcasecmp(c.arg.c_str(), "REPLY") == 0) {
          match_flags_ |= kFDirection;
          invert_flags_ |= kFDirection;
        } else {
          throw ParseError("conntrack: Bad value for \"--ctdir\" option: \"" +
                           c.arg + "\"");
        }
        break;
    }
  }

  void FinalCheck(FcheckCall& c) override {
    if (c.xflags == 0)
      throw ParseError("conntrack: At least one option is required");
  }

  void Save(SaveCtx& s) const override {
    std::string& o = s.out;
    auto bang = [&](uint16_t f) {
      if (invert_flags_ & f) o += " !";
    };
    if (match_flags_ & kFState) {
      bang(kFState);
      o += " --ctstate";
      PrintState(o, state_mask_);
    }
    if (match_flags_ & kFProto) {
      bang(kFProto);
      o += fmt::format(" --ctproto {}", l4proto_);
    }
    static const char* const kAddrNames[] = {"ctorigsrc", "ctorigdst",
                                             "ctreplsrc", "ctrepldst"};
    for (unsigned i = 0; i < 4; ++i) {
      const uint16_t f = kFOrigSrc << i;
      if (!(match_flags_ & f)) continue;
      bang(f);
      o += fmt::format(" --{} {}{}", kAddrNames[i],
                       FormatAddr(s.family, addr_[i].addr),
                       MaskSuffix(s.family, addr_[i].mask));
    }
    static const char* const kPortNames[] = {"ctorigsrcport", "ctorigdstport",
                                             "ctreplsrcport", "ctrepldstport"};
    for (unsigned i = 0; i < 4; ++i) {
      const uint16_t f = kFOrigSrcPort << i;
      if (!(match_flags_ & f)) continue;
      bang(f);
      const PortOpt& p = port_[i];
      if (p.hi == 0 || p.lo == p.hi)
        o += fmt::format(" --{} {}", kPortNames[i], p.lo);
      else
        o += fmt::format(" --{} {}:{}", kPortNames[i], p.lo, p.hi);
    }
    if (match_flags_ & kFStatus) {
      bang(kFStatus);
      o += " --ctstatus";
      PrintStatus(o, status_mask_);
    }
    if (match_flags_ & kFExpires) {
      bang(kFExpires);
      if (expires_min_ == expires_max_)
        o += fmt::format(" --ctexpire {}", expires_min_);
      else
        o += fmt::format(" --ctexpire {}:{}", expires_min_, expires_max_);
    }
    if (match_flags_ & kFDirection)
      o += (invert_flags_ & kFDirection) ? " --ctdir REPLY"
                                         : " --ctdir ORIGINAL";
  }

  bool Matches(XtParams& p) const override {
    const Packet& skb = *p.skb;
    // An untracked packet carries no entry (nf_ct_get gives NULL).
    const Conn* ct = skb.ctinfo == CtInfo::kUntracked ? nullptr : skb.ct;
    uint16_t statebit;
    if (ct != nullptr)
      statebit = uint16_t(1u << (unsigned(skb.ctinfo) % 3 + 1));
    else if (skb.ctinfo == CtInfo::kUntracked)
      statebit = kStUntracked;
    else
      statebit = kStInvalid;

    if (match_flags_ & kFState) {
      if (ct != nullptr) {
        const uint32_t st = ct->status.load();
        if (st & kIpsSrcNat) statebit |= kStSnat;
        if (st & kIpsDstNat) statebit |= kStDnat;
      }
      if (bool(state_mask_ & statebit) == bool(invert_flags_ & kFState))
        return false;
    }
    if (ct == nullptr) return match_flags_ & kFState;

    if (match_flags_ & kFDirection) {
      const bool orig = unsigned(skb.ctinfo) < 3;
      if (orig == bool(invert_flags_ & kFDirection)) return false;
    }
    const Family f = p.state ? p.state->family : skb.family;
    const Addr* kaddr[4] = {
        &ct->tuple[kDirOriginal].src, &ct->tuple[kDirOriginal].dst,
        &ct->tuple[kDirReply].src, &ct->tuple[kDirReply].dst};
    for (unsigned i = 0; i < 4; ++i) {
      const uint16_t flag = kFOrigSrc << i;
      if (!(match_flags_ & flag)) continue;
      if (AddrMatch(f, *kaddr[i], addr_[i].addr, addr_[i].mask) ==
          bool(invert_flags_ & flag))
        return false;
    }
    if ((match_flags_ & kFProto) && (ct->tuple[kDirOriginal].proto ==
                                     l4proto_) == bool(invert_flags_ & kFProto))
      return false;
    const uint16_t kports[4] = {
        ct->tuple[kDirOriginal].sport, ct->tuple[kDirOriginal].dport,
        ct->tuple[kDirReply].sport, ct->tuple[kDirReply].dport};
    for (unsigned i = 0; i < 4; ++i) {
      const uint16_t flag = kFOrigSrcPort << i;
      if (!(match_flags_ & flag)) continue;
      const bool in = kports[i] >= port_[i].lo && kports[i] <= port_[i].hi;
      if (in == bool(invert_flags_ & flag)) return false;
    }
    if ((match_flags_ & kFStatus) && bool(status_mask_ & ct->status.load()) ==
                                         bool(invert_flags_ & kFStatus))
      return false;
    if (match_flags_ & kFExpires) {
      // nf_ct_expires: the timer's remaining jiffies, never negative, in
      // whole seconds. Until it is confirmed an entry's timeout field holds
      // the relative timeout, which is below the jiffies counter of any
      // host up for more than a few minutes: 0.
      int64_t left = 0;
      if (ct->status.load() & kIpsConfirmed) {
        const double now = p.state ? p.state->now : skb.tstamp;
        left = std::max<int64_t>(0, Jiffies(ct->expires) - Jiffies(now));
      }
      const uint64_t secs = uint64_t(left) / kHz;
      const bool in = secs >= expires_min_ && secs <= expires_max_;
      if (in == bool(invert_flags_ & kFExpires)) return false;
    }
    return true;
  }

 private:
  void Set(uint16_t flag, bool invert) {
    match_flags_ |= flag;
    if (invert) invert_flags_ |= flag;
  }

  // HostMask mirrors XTTYPE_HOSTMASK, whose mask comes from a prefix
  // length: a non-contiguous dotted mask has none and ends up all ones.
  static Addr HostMask(const OptCall& c) {
    if (c.val.hlen == 0xff) return CidrToMask(c.env->family, 128);
    return c.val.hmask;
  }

  uint16_t match_flags_ = 0, invert_flags_ = 0;
  uint16_t state_mask_ = 0;
  uint32_t status_mask_ = 0;
  uint8_t l4proto_ = 0;
  AddrOpt addr_[4];
  PortOpt port_[4];
  uint32_t expires_min_ = 0, expires_max_ = 0;
};

const unsigned kInv = kOptInvert;

NETFENCE_REGISTER(RegisterMatch({
    .name = "conntrack",
    .revision = 3,
    .options = {{"ctstate", kOState, OptType::kString, kInv},
                {"ctproto", kOProto, OptType::kProtocol, kInv},
                {"ctorigsrc", kOOrigSrc, OptType::kHostMask, kInv},
                {"ctorigdst", kOOrigDst, OptType::kHostMask, kInv},
                {"ctreplsrc", kOReplSrc, OptType::kHostMask, kInv},
                {"ctrepldst", kOReplDst, OptType::kHostMask, kInv},
                {"ctstatus", kOStatus, OptType::kString, kInv},
                {"ctexpire", kOExpire, OptType::kUint32Rc, kInv},
                {"ctorigsrcport", kOOrigSrcPort, OptType::kPortRc, kInv},
                {"ctorigdstport", kOOrigDstPort, OptType::kPortRc, kInv},
                {"ctreplsrcport", kOReplSrcPort, OptType::kPortRc, kInv},
                {"ctrepldstport", kOReplDstPort, OptType::kPortRc, kInv},
                {"ctdir", kODir, OptType::kString, 0}},
    .create = [] { return std::make_unique<ConntrackMatch>(); },
}));

}  // namespace
}  // namespace netfence::ext
