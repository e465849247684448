// policy match: the IPsec policy a packet was decapsulated with or will be
// encapsulated with (xt_policy). netfence models no IPsec: no packet has a
// security path or an xfrm bundle, so "--pol none" always matches and
// "--pol ipsec" never does, as in the kernel for such packets.
#include <fmt/format.h>

#include "core/addr.h"
#include "core/protocols.h"
#include "core/xt.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

enum OptId : unsigned {
  kODir,
  kOPol,
  kOStrict,
  kOReqid,
  kOSpi,
  kOProto,
  kOMode,
  kOTunnelSrc,
  kOTunnelDst,
  kONext,
};

// Flags (XT_POLICY_MATCH_*).
enum : uint16_t { kIn = 1, kOut = 2, kNone = 4, kStrict = 8 };

enum : uint8_t { kTransport = 0, kTunnel = 1 };

constexpr unsigned kMaxElem = 4;  // XT_POLICY_MAX_ELEM

// Elem is struct xt_policy_elem: what to compare, and whether inverted.
struct Elem {
  Addr saddr, smask, daddr, dmask;
  uint32_t reqid = 0, spi = 0;
  uint8_t proto = 0, mode = kTransport;
  struct {
    bool saddr = false, daddr = false, proto = false, mode = false, spi = false,
         reqid = false;
  } match, invert;
};

// MaskSuffix is xtables_ip[6]mask_to_numeric: nothing for a host mask.
std::string MaskSuffix(Family f, const Addr& mask) {
  if (MaskToCidr(f, mask) == (f == Family::kIPv4 ? 32 : 128)) return "";
  return "/" + FormatMask(f, mask);
}

// PolicyMatch is one -m policy: xt_policy_info.
class PolicyMatch : public Match {
 public:
  void Parse(OptCall& c) override {
    Elem& e = pol_[len_];
    auto twice = [](const char* opt) {
      throw ParseError(fmt::format("policy match: double --{} option", opt));
    };
    switch (c.id()) {
      case kODir:
        if (c.arg == "in")
          flags_ |= kIn;
        else if (c.arg == "out")
          flags_ |= kOut;
        else
          throw ParseError("policy_match: invalid dir \"" + c.arg + "\"");
        break;
      case kOPol:
        if (c.arg == "none")
          flags_ |= kNone;
        else if (c.arg != "ipsec")
          throw ParseError("policy match: invalid policy \"" + c.arg + "\"");
        break;
      case kOStrict:
        flags_ |= kStrict;
        break;
      case kOReqid:
        if (e.match.reqid) twice("reqid");
        e.match.reqid = true;
        e.invert.reqid = c.invert;
        e.reqid = uint32_t(c.val.u);
        break;
      case kOSpi:
        if (e.match.spi) twice("spi");
        e.match.spi = true;
        e.invert.spi = c.invert;
        e.spi = uint32_t(c.val.u);
        break;
      case kOTunnelSrc:
        if (e.match.saddr) twice("tunnel-src");
        e.match.saddr = true;
        e.invert.saddr = c.invert;
        e.saddr = c.val.haddr;
        e.smask = HostMask(c);
        break;
      case kOTunnelDst:
        if (e.match.daddr) twice("tunnel-dst");
        e.match.daddr = true;
        e.invert.daddr = c.invert;
        e.daddr = c.val.haddr;
        e.dmask = HostMask(c);
        break;
      case kOProto:
        if (e.match.proto) twice("proto");
        e.proto = c.val.protocol;
        if (e.proto != 51 && e.proto != 50 && e.proto != 108)
          throw ParseError("policy match: protocol must be ah/esp/ipcomp");
        e.match.proto = true;
        e.invert.proto = c.invert;
        break;
      case kOMode:
        if (e.match.mode) twice("mode");
        e.match.mode = true;
        e.invert.mode = c.invert;
        if (c.arg == "transport")
          e.mode = kTransport;
        else if (c.arg == "tunnel")
          e.mode = kTunnel;
        else
          throw ParseError("policy match: invalid mode \"" + c.arg + "\"");
        break;
      case kONext:
        if (++len_ == kMaxElem)
          throw ParseError("policy match: maximum policy depth reached");
        break;
    }
  }

  void FinalCheck(FcheckCall& c) override {
    if (!(flags_ & (kIn | kOut)))
      throw ParseError(
          "policy match: neither --dir in nor --dir out specified");
    if (flags_ & kNone) {
      if (flags_ & kStrict)
        throw ParseError("policy match: policy none but --strict given");
      if (len_ != 0)
        throw ParseError("policy match: policy none but policy given");
    } else {
      ++len_;  // the last element has no --next after it
    }
    for (unsigned i = 0; i < len_; ++i) {
      const Elem& e = pol_[i];
      if ((flags_ & kStrict) &&
          !(e.match.reqid || e.match.spi || e.match.saddr || e.match.daddr ||
            e.match.proto || e.match.mode))
        throw ParseError(fmt::format(
            "policy match: empty policy element {}. --strict is in effect, "
            "but at least one of reqid, spi, tunnel-src, tunnel-dst, proto "
            "or mode is required.",
            i));
      // Without --mode the element's mode is transport.
      if ((e.match.saddr || e.match.daddr) &&
          ((e.mode == kTunnel && e.invert.mode) ||
           (e.mode == kTransport && !e.invert.mode)))
        throw ParseError(
            "policy match: --tunnel-src/--tunnel-dst is only valid in tunnel "
            "mode");
    }
  }

  void Check(const CheckCtx& c) override {
    const HookMask in_hooks =
        HookBit(Hook::kPrerouting) | HookBit(Hook::kInput);
    const HookMask out_hooks =
        HookBit(Hook::kPostrouting) | HookBit(Hook::kOutput);
    if (!(flags_ & (kIn | kOut)))
      throw CommitError(
          "policy: neither incoming nor outgoing policy selected");
    if ((c.hook_mask & in_hooks) && (flags_ & kOut))
      throw CommitError(
          "policy: output policy not valid in PREROUTING and INPUT");
    if ((c.hook_mask & out_hooks) && (flags_ & kIn))
      throw CommitError(
          "policy: input policy not valid in POSTROUTING and OUTPUT");
    if (len_ > kMaxElem) throw CommitError("policy: too many policy elements");
  }

  void Save(SaveCtx& s) const override {
    static const BuiltinResolver kNames;
    std::string& o = s.out;
    o += (flags_ & kIn) ? " --dir in" : " --dir out";
    o += (flags_ & kNone) ? " --pol none" : " --pol ipsec";
    if (flags_ & kStrict) o += " --strict";
    for (unsigned i = 0; i < len_; ++i) {
      const Elem& e = pol_[i];
      auto bang = [&](bool inv) {
        if (inv) o += " !";
      };
      if (e.match.reqid) {
        bang(e.invert.reqid);
        o += fmt::format(" --reqid {}", e.reqid);
      }
      if (e.match.spi) {
        bang(e.invert.spi);
        o += fmt::format(" --spi 0x{:x}", e.spi);
      }
      if (e.match.proto) {
        bang(e.invert.proto);
        // getprotobynumber's name, as print_proto asks for it.
        if (auto name = kNames.ProtocolName(e.proto))
          o += " --proto " + *name;
        else
          o += fmt::format(" --proto {}", e.proto);
      }
      if (e.match.mode) {
        bang(e.invert.mode);
        o += e.mode == kTunnel ? " --mode tunnel" : " --mode transport";
      }
      if (e.match.daddr) {
        bang(e.invert.daddr);
        o += " --tunnel-dst " + FormatAddr(s.family, e.daddr) +
             MaskSuffix(s.family, e.dmask);
      }
      if (e.match.saddr) {
        bang(e.invert.saddr);
        o += " --tunnel-src " + FormatAddr(s.family, e.saddr) +
             MaskSuffix(s.family, e.smask);
      }
      if (i + 1 < len_) o += " --next";
    }
  }

  // No packet carries IPsec state (no secpath on input, no xfrm bundle on
  // output): the kernel's lookup reports "no policy", which only
  // "--pol none" accepts.
  bool Matches(XtParams& p) const override { return flags_ & kNone; }

 private:
  // HostMask mirrors XTTYPE_HOSTMASK's prefix-length mask: a
  // non-contiguous dotted mask ends up all ones.
  static Addr HostMask(const OptCall& c) {
    if (c.val.hlen == 0xff) return CidrToMask(c.env->family, 128);
    return c.val.hmask;
  }

  uint16_t flags_ = 0;
  unsigned len_ = 0;
  Elem pol_[kMaxElem];
};

std::vector<OptionEntry> Options() {
  const unsigned kMI = kOptMulti | kOptInvert;
  return {
      {"dir", kODir, OptType::kString},
      {"pol", kOPol, OptType::kString},
      {"strict", kOStrict, OptType::kNone},
      {"reqid", kOReqid, OptType::kUint32, kMI},
      {"spi", kOSpi, OptType::kUint32, kMI},
      {"tunnel-src", kOTunnelSrc, OptType::kHostMask, kMI},
      {"tunnel-dst", kOTunnelDst, OptType::kHostMask, kMI},
      {"proto", kOProto, OptType::kProtocol, kMI},
      {"mode", kOMode, OptType::kString, kMI},
      {.name = "next",
       .id = kONext,
       .type = OptType::kNone,
       .flags = kOptMulti,
       .also = 1u << kOStrict},
  };
}

NETFENCE_REGISTER(RegisterMatch({
    .name = "policy",
    .family = Family::kIPv4,
    .options = Options(),
    .create = [] { return std::make_unique<PolicyMatch>(); },
}));

NETFENCE_REGISTER(RegisterMatch({
    .name = "policy",
    .family = Family::kIPv6,
    .options = Options(),
    .create = [] { return std::make_unique<PolicyMatch>(); },
}));

}  // namespace
}  // namespace netfence::ext
