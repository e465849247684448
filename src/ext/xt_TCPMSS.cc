// TCPMSS target: lowers the MSS option of TCP SYN packets, to a fixed value
// or to what the path MTU allows, and adds the option when it is missing
// (xt_TCPMSS). The kernel only accepts it in rules that match SYN packets
// with -m tcp.
#include <fmt/format.h>

#include <algorithm>
#include <sstream>

#include "core/checksum.h"
#include "core/table.h"
#include "core/xt.h"
#include "ext/mangle_util.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

enum OptId : unsigned { kSetMss = 0, kClampMss };

constexpr uint16_t kClampPmtu = 0xffff;  // XT_TCPMSS_CLAMP_PMTU
constexpr uint8_t kOptMss = 2, kOptMssLen = 4;

// IsSynMatch reports whether a rule match is "-m tcp" requiring SYN
// without inversion (find_syn_match). The tcp match keeps its flags
// private; its canonical iptables-save text is the public form of them.
bool IsSynMatch(const MatchEntry& m, const CheckCtx& c) {
  if (m.type->name != "tcp") return false;
  std::string text;
  SaveCtx s{text, *c.ip, c.family};
  m.match->Save(s);
  std::istringstream in(text);
  std::vector<std::string> tok;
  for (std::string t; in >> t;) tok.push_back(t);
  for (size_t i = 0; i + 2 < tok.size(); ++i) {
    if (tok[i] != "--tcp-flags") continue;
    if (i > 0 && tok[i - 1] == "!") return false;
    std::istringstream comp(tok[i + 2]);
    for (std::string f; std::getline(comp, f, ',');)
      if (f == "SYN") return true;
    return false;
  }
  return false;
}

class TcpmssTarget : public Target {
 public:
  void Parse(OptCall& c) override {
    // The two options do not exclude each other: the last one wins.
    mss_ = c.id() == kClampMss ? kClampPmtu : uint16_t(c.val.u);
  }

  void FinalCheck(FcheckCall& c) override {
    if (c.xflags == 0)
      throw ParseError("TCPMSS target: At least one parameter is required");
  }

  void Check(const CheckCtx& c) override {
    const HookMask ok = HookBit(Hook::kForward) | HookBit(Hook::kOutput) |
                        HookBit(Hook::kPostrouting);
    if (mss_ == kClampPmtu && (c.hook_mask & ~ok) != 0)
      throw CommitError(
          "TCPMSS: path-MTU clamping only supported in FORWARD, OUTPUT and "
          "POSTROUTING hooks");
    if (c.matches != nullptr)
      for (const MatchEntry& m : *c.matches)
        if (IsSynMatch(m, c)) return;
    throw CommitError("TCPMSS: Only works on TCP SYN packets");
  }

  void Save(SaveCtx& s) const override {
    if (mss_ == kClampPmtu)
      s.out += " --clamp-mss-to-pmtu";
    else
      s.out += fmt::format(" --set-mss {}", mss_);
  }

  Verdict Run(XtParams& p) const override {
    Packet& skb = *p.skb;
    int tcphoff;
    unsigned minlen;
    if (skb.family == Family::kIPv4) {
      tcphoff = (skb.data[0] & 0x0f) * 4;
      minlen = 20 + 20;
    } else {
      uint8_t nexthdr = skb.data[6];
      uint16_t frag_off;
      tcphoff = Ipv6SkipExthdr(skb, 40, nexthdr, frag_off);
      if (tcphoff < 0) return Verdict::kDrop;
      minlen = 40 + 20;
    }
    const int ret = Mangle(p, unsigned(tcphoff), minlen);
    if (ret < 0) return Verdict::kDrop;
    if (ret > 0) {
      uint8_t* d = skb.data.data();
      if (skb.family == Family::kIPv4) {
        const uint16_t oldlen = Load16(d + 2), newlen = uint16_t(oldlen + ret);
        CsumReplace2(d + 10, oldlen, newlen);
        Store16(d + 2, newlen);
      } else {
        Store16(d + 4, uint16_t(Load16(d + 4) + ret));
      }
    }
    return Verdict::kContinue;
  }

 private:
  // PathMtu is what --clamp-mss-to-pmtu clamps to: the smaller of the
  // packet's route MTU and the MTU of the route back to its source.
  unsigned PathMtu(const XtParams& p) const {
    const HookState& st = *p.state;
    const Route fwd = PacketRoute(p);
    const unsigned out_mtu = RouteMtu(fwd, st.out);
    // tcpmss_reverse_mtu: an output route lookup towards the source.
    unsigned in_mtu = ~0u;
    const Route rev = st.host->RouteOutput(p.skb->family, PktSrc(*p.skb),
                                           Addr{}, 0, nullptr, 0);
    if (rev.err == 0) in_mtu = RouteMtu(rev, nullptr);
    return std::min(out_mtu, in_mtu);
  }

  // Mangle is tcpmss_mangle_packet: returns the bytes added (0 or 4) or -1
  // to drop the packet.
  int Mangle(XtParams& p, unsigned tcphoff, unsigned minlen) const {
    if (p.fragoff != 0) return 0;  // no TCP header in this fragment
    Packet& skb = *p.skb;
    const int len = int(skb.data.size()) - int(tcphoff);
    if (len < 20) return -1;
    uint8_t* th = skb.data.data() + tcphoff;
    const int tcp_hdrlen = (th[12] >> 4) * 4;
    if (len < tcp_hdrlen || tcp_hdrlen < 20) return -1;

    uint16_t newmss;
    if (mss_ == kClampPmtu) {
      const unsigned min_mtu = PathMtu(p);
      if (min_mtu <= minlen) return -1;  // unknown or invalid path MTU
      newmss = uint16_t(min_mtu - minlen);
    } else {
      newmss = mss_;
    }

    for (int i = 20; i <= tcp_hdrlen - kOptMssLen;) {
      if (th[i] == kOptMss && th[i + 1] == kOptMssLen) {
        const uint16_t oldmss = Load16(th + i + 2);
        // Never raise the MSS: the endpoints rely on the value they sent.
        if (oldmss <= newmss) return 0;
        Store16(th + i + 2, newmss);
        CsumReplace2(th + 16, oldmss, newmss);
        return 0;
      }
      // Zero-length and single-byte options still advance by one.
      i += (th[i] <= 1 || th[i + 1] == 0) ? 1 : th[i + 1];
    }

    // With payload the option cannot be inserted without moving data.
    if (len > tcp_hdrlen) return 0;
    if (tcp_hdrlen >= 15 * 4) return 0;  // data offset would overflow

    // No MSS option: add one with the protocol's default MSS as a ceiling
    // (536 for IPv4, 1220 for IPv6).
    newmss =
        std::min<uint16_t>(newmss, skb.family == Family::kIPv4 ? 536 : 1220);
    skb.data.insert(skb.data.begin() + tcphoff + 20, kOptMssLen, 0);
    th = skb.data.data() + tcphoff;
    uint8_t* opt = th + 20;
    // The pseudo header's length grows by 4.
    CsumReplace2(th + 16, uint16_t(len), uint16_t(len + kOptMssLen));
    opt[0] = kOptMss;
    opt[1] = kOptMssLen;
    Store16(opt + 2, newmss);
    CsumReplace4(th + 16, 0, Load32(opt));
    const uint16_t oldval = Load16(th + 12);
    th[12] = uint8_t(th[12] + (kOptMssLen / 4 << 4));
    CsumReplace2(th + 16, oldval, Load16(th + 12));
    return kOptMssLen;
  }

  uint16_t mss_ = 0;
};

std::unique_ptr<Target> Make() { return std::make_unique<TcpmssTarget>(); }

NETFENCE_REGISTER(RegisterTarget({
    .name = "TCPMSS",
    .family = Family::kIPv4,
    .options = {{"set-mss", kSetMss, OptType::kUint16, 0, 0, 0, 0,
                 UINT16_MAX - 20},
                {"clamp-mss-to-pmtu", kClampMss, OptType::kNone}},
    .proto = 6,
    .create = Make,
}));

NETFENCE_REGISTER(RegisterTarget({
    .name = "TCPMSS",
    .family = Family::kIPv6,
    .options = {{"set-mss", kSetMss, OptType::kUint16, 0, 0, 0, 0,
                 UINT16_MAX - 40},
                {"clamp-mss-to-pmtu", kClampMss, OptType::kNone}},
    .proto = 6,
    .create = Make,
}));

}  // namespace
}  // namespace netfence::ext
