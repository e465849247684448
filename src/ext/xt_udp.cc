// udp match: source and destination port ranges of a UDP header
// (xt_tcpudp's udp_mt).
#include <fmt/format.h>

#include "core/xt.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

enum : uint8_t {
  kInvSrcPt = 0x01,
  kInvDstPt = 0x02,
  kInvMask = 0x03,
};

enum OptId : unsigned { kSport, kDport };

void SavePorts(std::string& out, const char* opt, const uint16_t p[2],
               bool inv) {
  if (p[0] == 0 && p[1] == 0xffff) return;
  if (inv) out += " !";
  if (p[0] != p[1])
    out += fmt::format(" {} {}:{}", opt, p[0], p[1]);
  else
    out += fmt::format(" {} {}", opt, p[0]);
}

bool PortInRange(uint16_t lo, uint16_t hi, uint16_t port, bool inv) {
  return (port >= lo && port <= hi) ^ inv;
}

class UdpMatch : public Match {
 public:
  void Parse(OptCall& c) override {
    // XTTYPE_PORTRC: empty components ("4:", ":") keep the defaults 0 and
    // 65535, which are also the struct's initial bounds.
    uint16_t* ports = c.id() == kSport ? spts_ : dpts_;
    ports[0] = c.val.range[0];
    ports[1] = c.val.range[1];
    if (c.invert) invflags_ |= c.id() == kSport ? kInvSrcPt : kInvDstPt;
  }

  void Check(const CheckCtx& c) override {
    if (invflags_ & ~kInvMask) throw CommitError("udp: unknown invflags");
  }

  void Save(SaveCtx& s) const override {
    SavePorts(s.out, "--sport", spts_, invflags_ & kInvSrcPt);
    SavePorts(s.out, "--dport", dpts_, invflags_ & kInvDstPt);
  }

  bool Matches(XtParams& p) const override {
    if (p.fragoff != 0) return false;
    const uint8_t* uh = p.skb->HeaderPointer(p.thoff, 8);
    if (uh == nullptr) {
      // A header we were asked to examine but cannot: drop.
      p.hotdrop = true;
      return false;
    }
    return PortInRange(spts_[0], spts_[1], Load16(uh), invflags_ & kInvSrcPt) &&
           PortInRange(dpts_[0], dpts_[1], Load16(uh + 2),
                       invflags_ & kInvDstPt);
  }

 private:
  uint16_t spts_[2] = {0, 0xffff};
  uint16_t dpts_[2] = {0, 0xffff};
  uint8_t invflags_ = 0;
};

NETFENCE_REGISTER(RegisterMatch({
    .name = "udp",
    .options = {{"source-port", kSport, OptType::kPortRc, kOptInvert},
                {"sport", kSport, OptType::kPortRc, kOptInvert},
                {"destination-port", kDport, OptType::kPortRc, kOptInvert},
                {"dport", kDport, OptType::kPortRc, kOptInvert}},
    .proto = 17,
    .create = [] { return std::make_unique<UdpMatch>(); },
}));

}  // namespace
}  // namespace netfence::ext
