// addrtype match: the kind of address (local, unicast, broadcast, ...) the
// packet's source or destination is on this host (xt_addrtype, revision 1),
// optionally only as seen from the packet's input or output interface.
#include <strings.h>

#include <cstring>

#include "core/host.h"
#include "core/xt.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

enum OptId : unsigned { kOSrcType, kODstType, kOLimitIn, kOLimitOut };

// Flags (XT_ADDRTYPE_*).
enum : uint32_t {
  kInvertSource = 1 << 0,
  kInvertDest = 1 << 1,
  kLimitIfaceIn = 1 << 2,
  kLimitIfaceOut = 1 << 3,
};

// Type bits: 1 << RTN_*.
enum : uint16_t {
  kUnspec = 1 << 0,
  kUnicast = 1 << 1,
  kLocal = 1 << 2,
  kBroadcast = 1 << 3,
  kAnycast = 1 << 4,
  kMulticast = 1 << 5,
  kBlackhole = 1 << 6,
  kUnreachable = 1 << 7,
  kProhibit = 1 << 8,
};

const char* const kTypeNames[] = {
    "UNSPEC",    "UNICAST",     "LOCAL",    "BROADCAST", "ANYCAST", "MULTICAST",
    "BLACKHOLE", "UNREACHABLE", "PROHIBIT", "THROW",     "NAT",     "XRESOLVE"};

// TypeBit takes the first type the word is a case-insensitive prefix of.
bool TypeBit(const char* s, size_t len, uint16_t& mask) {
  for (size_t i = 0; i < std::size(kTypeNames); ++i) {
    if (strncasecmp(s, kTypeNames[i], len) == 0) {
      mask |= uint16_t(1u << i);
      return true;
    }
  }
  return false;
}

uint16_t ParseTypes(const std::string& arg) {
  uint16_t mask = 0;
  const char* a = arg.c_str();
  const char* comma;
  while ((comma = strchr(a, ',')) != nullptr) {
    if (comma == a || !TypeBit(a, size_t(comma - a), mask))
      throw ParseError(std::string("addrtype: bad type `") + a + "'");
    a = comma + 1;
  }
  if (*a == '\0' || !TypeBit(a, strlen(a), mask))
    throw ParseError(std::string("addrtype: bad type \"") + a + "\"");
  return mask;
}

// V6Type is ipv6_addr_type's coarse class of an address.
enum class V6Class { kAny, kMulticast, kUnicast };

V6Class ClassifyV6(const Addr& a) {
  if (a.b[0] == 0xff) return V6Class::kMulticast;
  if (a == Addr{}) return V6Class::kAny;
  return V6Class::kUnicast;
}

// AddrtypeMatch is one -m addrtype: xt_addrtype_info_v1.
class AddrtypeMatch : public Match {
 public:
  void Parse(OptCall& c) override {
    switch (c.id()) {
      case kOSrcType:
        source_ = ParseTypes(c.arg);
        if (c.invert) flags_ |= kInvertSource;
        break;
      case kODstType:
        dest_ = ParseTypes(c.arg);
        if (c.invert) flags_ |= kInvertDest;
        break;
      case kOLimitIn:
        flags_ |= kLimitIfaceIn;
        break;
      case kOLimitOut:
        flags_ |= kLimitIfaceOut;
        break;
    }
  }

  void FinalCheck(FcheckCall& c) override {
    if (!(c.xflags & ((1u << kOSrcType) | (1u << kODstType))))
      throw ParseError("addrtype: you must specify --src-type or --dst-type");
  }

  void Check(const CheckCtx& c) override {
    const HookMask in_hooks =
        HookBit(Hook::kPrerouting) | HookBit(Hook::kInput);
    const HookMask out_hooks =
        HookBit(Hook::kPostrouting) | HookBit(Hook::kOutput);
    if ((flags_ & kLimitIfaceIn) && (flags_ & kLimitIfaceOut))
      throw CommitError(
          "addrtype: both incoming and outgoing interface limitation cannot "
          "be selected");
    if ((c.hook_mask & in_hooks) && (flags_ & kLimitIfaceOut))
      throw CommitError(
          "addrtype: output interface limitation not valid in PREROUTING and "
          "INPUT");
    if ((c.hook_mask & out_hooks) && (flags_ & kLimitIfaceIn))
      throw CommitError(
          "addrtype: input interface limitation not valid in POSTROUTING and "
          "OUTPUT");
    if (c.family == Family::kIPv6) {
      const uint16_t types = source_ | dest_;
      if (types & kBlackhole)
        throw CommitError("addrtype: ipv6 BLACKHOLE matching not supported");
      if (types >= kProhibit)
        throw CommitError(
            "addrtype: ipv6 PROHIBIT (THROW, NAT ..) matching not supported");
      if (types & kBroadcast)
        throw CommitError("addrtype: ipv6 does not support BROADCAST matching");
    }
  }

  void Save(SaveCtx& s) const override {
    if (source_) {
      if (flags_ & kInvertSource) s.out += " !";
      s.out += " --src-type ";
      PrintTypes(s.out, source_);
    }
    if (dest_) {
      if (flags_ & kInvertDest) s.out += " !";
      s.out += " --dst-type ";
      PrintTypes(s.out, dest_);
    }
    if (flags_ & kLimitIfaceIn) s.out += " --limit-iface-in";
    if (flags_ & kLimitIfaceOut) s.out += " --limit-iface-out";
  }

  bool Matches(XtParams& p) const override {
    const Interface* dev = nullptr;
    if (p.state && (flags_ & kLimitIfaceIn))
      dev = p.state->in;
    else if (p.state && (flags_ & kLimitIfaceOut))
      dev = p.state->out;
    const bool v4 = p.skb->family == Family::kIPv4;
    const uint8_t* h = p.skb->HeaderPointer(0, v4 ? 20 : 40);
    if (h == nullptr) return false;
    Addr saddr, daddr;
    const size_t alen = v4 ? 4 : 16;
    std::memcpy(saddr.b.data(), h + (v4 ? 12 : 8), alen);
    std::memcpy(daddr.b.data(), h + (v4 ? 16 : 24), alen);
    const Host* host = p.state ? p.state->host : nullptr;
    bool ret = true;
    if (source_)
      ret = Type(host, p.skb->family, dev, saddr, source_) !=
            bool(flags_ & kInvertSource);
    if (ret && dest_)
      ret = Type(host, p.skb->family, dev, daddr, dest_) !=
            bool(flags_ & kInvertDest);
    return ret;
  }

 private:
  static void PrintTypes(std::string& out, uint16_t mask) {
    const char* sep = "";
    for (size_t i = 0; i < std::size(kTypeNames); ++i) {
      if (mask & (1u << i)) {
        out += sep;
        out += kTypeNames[i];
        sep = ",";
      }
    }
  }

  // Type tells whether the address has one of the types in mask.
  static bool Type(const Host* host, Family f, const Interface* dev,
                   const Addr& a, uint16_t mask) {
    if (f == Family::kIPv4) {
      // inet_dev_addr_type; without a host model every address is unicast.
      const RouteType t =
          host ? host->AddrType(f, a, dev) : RouteType::kUnicast;
      return mask & (1u << unsigned(t));
    }
    // match_type6: the address class first, then a route lookup for the
    // types only a lookup tells.
    const V6Class cls = ClassifyV6(a);
    if ((mask & kMulticast) && cls != V6Class::kMulticast) return false;
    if ((mask & kUnicast) && cls != V6Class::kUnicast) return false;
    if ((mask & kUnspec) && cls != V6Class::kAny) return false;
    if (!(mask & (kLocal | kAnycast | kUnreachable))) return true;
    const RouteType t = host ? host->AddrType(f, a, dev) : RouteType::kUnicast;
    uint16_t found = 0;
    if (t == RouteType::kUnreachable || t == RouteType::kProhibit ||
        t == RouteType::kBlackhole)
      found = kUnreachable;
    else if (t == RouteType::kLocal)
      found = kLocal;
    else if (t == RouteType::kAnycast)
      found = kAnycast;
    return mask & found;
  }

  uint16_t source_ = 0, dest_ = 0;
  uint32_t flags_ = 0;
};

NETFENCE_REGISTER(RegisterMatch({
    .name = "addrtype",
    .revision = 1,
    .options =
        {{"src-type", kOSrcType, OptType::kString, kOptInvert},
         {"dst-type", kODstType, OptType::kString, kOptInvert},
         {"limit-iface-in", kOLimitIn, OptType::kNone, 0, 1u << kOLimitOut},
         {"limit-iface-out", kOLimitOut, OptType::kNone, 0, 1u << kOLimitIn}},
    .create = [] { return std::make_unique<AddrtypeMatch>(); },
}));

}  // namespace
}  // namespace netfence::ext
