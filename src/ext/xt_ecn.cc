// ecn match: the ECN code point of the IP header and the ECE / CWR bits of
// a TCP header (xt_ecn).
#include <fmt/format.h>

#include "core/xt.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

enum OptId : unsigned { kCwr, kEce, kIpEct };

// Operation bits (XT_ECN_OP_MATCH_*).
enum : uint8_t {
  kOpIp = 0x01,
  kOpEce = 0x10,
  kOpCwr = 0x20,
  kOpMask = 0xce,  // bits the kernel does not know
};

class EcnMatch : public Match {
 public:
  void Parse(OptCall& c) override {
    switch (c.id()) {
      case kCwr:
        operation_ |= kOpCwr;
        if (c.invert) invert_ |= kOpCwr;
        break;
      case kEce:
        operation_ |= kOpEce;
        if (c.invert) invert_ |= kOpEce;
        break;
      case kIpEct:
        if (c.invert) invert_ |= kOpIp;
        operation_ |= kOpIp;
        ip_ect_ = uint8_t(c.val.u);
        break;
    }
  }

  void FinalCheck(FcheckCall& c) override {
    if (c.xflags == 0) throw ParseError("ECN match: some option required");
  }

  void Check(const CheckCtx& c) override {
    if ((operation_ & kOpMask) || (invert_ & kOpMask))
      throw CommitError("ecn: unknown flags");
    if ((operation_ & (kOpEce | kOpCwr)) &&
        (c.ip->proto != 6 || (c.ip->invflags & kInvProto)))
      throw CommitError("ecn: cannot match TCP bits for non-tcp packets");
  }

  void Save(SaveCtx& s) const override {
    if (operation_ & kOpEce) {
      if (invert_ & kOpEce) s.out += " !";
      s.out += " --ecn-tcp-ece";
    }
    if (operation_ & kOpCwr) {
      if (invert_ & kOpCwr) s.out += " !";
      s.out += " --ecn-tcp-cwr";
    }
    if (operation_ & kOpIp) {
      if (invert_ & kOpIp) s.out += " !";
      s.out += fmt::format(" --ecn-ip-ect {}", ip_ect_);
    }
  }

  bool Matches(XtParams& p) const override {
    if ((operation_ & kOpIp) && !IpMatches(*p.skb)) return false;
    if ((operation_ & (kOpEce | kOpCwr)) && !TcpMatches(p)) return false;
    return true;
  }

 private:
  bool IpMatches(const Packet& skb) const {
    const uint8_t ect =
        skb.family == Family::kIPv4 ? skb.data[1] & 3 : (skb.data[1] >> 4) & 3;
    return (ect == ip_ect_) ^ bool(invert_ & kOpIp);
  }

  // TcpMatches reads the flags without the fragment checks of the tcp
  // match; an unreadable header simply fails.
  bool TcpMatches(const XtParams& p) const {
    const uint8_t* th = p.skb->HeaderPointer(p.thoff, 20);
    if (th == nullptr) return false;
    const bool ece = th[13] & 0x40, cwr = th[13] & 0x80;
    if ((operation_ & kOpEce) && ece == bool(invert_ & kOpEce)) return false;
    if ((operation_ & kOpCwr) && cwr == bool(invert_ & kOpCwr)) return false;
    return true;
  }

  uint8_t operation_ = 0, invert_ = 0, ip_ect_ = 0;
};

NETFENCE_REGISTER(RegisterMatch({
    .name = "ecn",
    .options = {{"ecn-tcp-cwr", kCwr, OptType::kNone, kOptInvert},
                {"ecn-tcp-ece", kEce, OptType::kNone, kOptInvert},
                {.name = "ecn-ip-ect",
                 .id = kIpEct,
                 .type = OptType::kUint8,
                 .flags = kOptInvert,
                 .min = 0,
                 .max = 3}},
    .create = [] { return std::make_unique<EcnMatch>(); },
}));

}  // namespace
}  // namespace netfence::ext
