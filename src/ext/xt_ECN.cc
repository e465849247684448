// ECN target (IPv4, ipt_ECN): sets the ECN codepoint of the IP header and
// the ECE / CWR flags of TCP headers, with incremental checksum updates.
#include <fmt/format.h>

#include "core/checksum.h"
#include "core/xt.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

enum OptId : unsigned { kTcpRemove = 0, kTcpCwr, kTcpEce, kIpEct };

// Operations (IPT_ECN_OP_*) and masks of ipt_ECN_info.
enum Op : uint8_t { kOpSetIp = 0x01, kOpSetEce = 0x10, kOpSetCwr = 0x20 };
constexpr uint8_t kOpMask = 0xce;
constexpr uint8_t kIpMask = 0x03;  // IPT_ECN_IP_MASK

class EcnTarget : public Target {
 public:
  void Parse(OptCall& c) override {
    const uint8_t v = uint8_t(c.val.u);
    switch (c.id()) {
      case kTcpRemove:
        operation_ = kOpSetEce | kOpSetCwr;
        ece_ = cwr_ = 0;
        break;
      case kTcpCwr:
        operation_ |= kOpSetCwr;
        cwr_ = v;
        break;
      case kTcpEce:
        operation_ |= kOpSetEce;
        ece_ = v;
        break;
      case kIpEct:
        operation_ |= kOpSetIp;
        ip_ect_ = v;
        break;
    }
  }

  void FinalCheck(FcheckCall& c) override {
    if (c.xflags == 0) throw ParseError("ECN target: An operation is required");
  }

  void Check(const CheckCtx& c) override {
    if (operation_ & kOpMask) throw CommitError("ECN: invalid operation");
    if (ip_ect_ & ~kIpMask) throw CommitError("ECN: invalid ECT codepoint");
    if ((operation_ & (kOpSetEce | kOpSetCwr)) &&
        (c.ip->proto != 6 || (c.ip->invflags & kInvProto)))
      throw CommitError("ECN: cannot use operation on non-tcp rule");
  }

  void Save(SaveCtx& s) const override {
    if (operation_ == (kOpSetEce | kOpSetCwr) && ece_ == 0 && cwr_ == 0) {
      s.out += " --ecn-tcp-remove";
      return;
    }
    if (operation_ & kOpSetEce) s.out += fmt::format(" --ecn-tcp-ece {}", ece_);
    if (operation_ & kOpSetCwr) s.out += fmt::format(" --ecn-tcp-cwr {}", cwr_);
    if (operation_ & kOpSetIp)
      s.out += fmt::format(" --ecn-ip-ect {}", ip_ect_);
  }

  Verdict Run(XtParams& p) const override {
    if (operation_ & kOpSetIp) SetIpEct(*p.skb);
    // Like the kernel, this looks at the protocol field only, not at the
    // fragment offset.
    if ((operation_ & (kOpSetEce | kOpSetCwr)) && p.skb->data[9] == 6 &&
        !SetTcpFlags(*p.skb))
      return Verdict::kDrop;
    return Verdict::kContinue;
  }

 private:
  void SetIpEct(Packet& skb) const {
    uint8_t* iph = skb.data.data();
    if ((iph[1] & kIpMask) == (ip_ect_ & kIpMask)) return;
    const uint8_t oldtos = iph[1];
    iph[1] = uint8_t((iph[1] & ~kIpMask) | (ip_ect_ & kIpMask));
    CsumReplace2(iph + 10, oldtos, iph[1]);
  }

  // SetTcpFlags is set_ect_tcp: false (drop) when the TCP header is cut.
  bool SetTcpFlags(Packet& skb) const {
    const unsigned ihl = (skb.data[0] & 0x0f) * 4;
    uint8_t* th = const_cast<uint8_t*>(skb.HeaderPointer(ihl, 20));
    if (th == nullptr) return false;
    const bool ece = th[13] & 0x40, cwr = th[13] & 0x80;
    if ((!(operation_ & kOpSetEce) || ece == bool(ece_)) &&
        (!(operation_ & kOpSetCwr) || cwr == bool(cwr_)))
      return true;
    const uint16_t oldval = Load16(th + 12);
    if (operation_ & kOpSetEce)
      th[13] = uint8_t((th[13] & ~0x40) | (ece_ << 6));
    if (operation_ & kOpSetCwr)
      th[13] = uint8_t((th[13] & ~0x80) | (cwr_ << 7));
    CsumReplace2(th + 16, oldval, Load16(th + 12));
    return true;
  }

  uint8_t operation_ = 0;
  uint8_t ip_ect_ = 0;
  uint8_t ece_ = 0, cwr_ = 0;
};

NETFENCE_REGISTER(RegisterTarget({
    .name = "ECN",
    .family = Family::kIPv4,
    .options = {{"ecn-tcp-remove", kTcpRemove, OptType::kNone, 0,
                 (1u << kTcpCwr) | (1u << kTcpEce)},
                {"ecn-tcp-cwr", kTcpCwr, OptType::kUint8, 0, 1u << kTcpRemove,
                 0, 0, 1},
                {"ecn-tcp-ece", kTcpEce, OptType::kUint8, 0, 1u << kTcpRemove,
                 0, 0, 1},
                {"ecn-ip-ect", kIpEct, OptType::kUint8, 0, 0, 0, 0, 3}},
    .table = "mangle",
    .create = [] { return std::make_unique<EcnTarget>(); },
}));

}  // namespace
}  // namespace netfence::ext
