// REJECT target (ipt_REJECT, ip6t_REJECT): drops the packet and answers it
// with a TCP reset or an ICMP / ICMPv6 destination unreachable, as
// nf_reject_ipv4 / nf_reject_ipv6, icmp_send and icmpv6_send build them.
#include "ext/xt_REJECT.h"

#include <strings.h>

#include <algorithm>
#include <cstring>
#include <optional>

#include "core/checksum.h"
#include "core/conn.h"
#include "core/host.h"
#include "core/xt.h"

namespace netfence::ext {

using namespace netfence::core;

namespace {

constexpr uint8_t kProtoIcmp = 1;
constexpr uint8_t kProtoTcp = 6;
constexpr uint8_t kProtoUdp = 17;
constexpr uint8_t kProtoIcmp6 = 58;

// ---------------------------------------------------------------- checksums

// ChecksumOk is the verdict of nf_ip_checksum / nf_ip6_checksum on a packet
// whose checksum nothing verified yet (CHECKSUM_NONE, which is what a packet
// from a veth peer or a raw socket carries): the one's complement sum of
// the pseudo header (when given) and the payload must fold to zero.
bool ChecksumOk(const std::vector<uint8_t>& d, size_t off, uint32_t pseudo) {
  uint32_t sum = CsumPartial(d.data() + off, d.size() - off, pseudo);
  return CsumFold(sum) == 0;
}

// VerifiesChecksum is nf_reject_verify_csum: protocols whose checksum is
// optional, partial or replaced by other integrity checks are not verified
// (UDP only when its checksum is 0).
bool VerifiesChecksum(const std::vector<uint8_t>& d, size_t off,
                      uint8_t proto) {
  switch (proto) {
    case kProtoUdp:
      return off + 8 > d.size() || Load16(d.data() + off + 6) != 0;
    case 47:   // GRE
    case 51:   // AH
    case 50:   // ESP
    case 132:  // SCTP
    case 136:  // UDP-Lite
    case 33:   // DCCP
      return false;
    default:
      return true;
  }
}

bool ChecksumOkV4(const std::vector<uint8_t>& d, size_t off, uint8_t proto) {
  uint32_t pseudo = 0;
  if (proto == kProtoTcp || proto == kProtoUdp)
    pseudo = PseudoHeaderV4(d.data() + 12, d.data() + 16, proto,
                            uint32_t(d.size() - off));
  return NfIpChecksumOk(d.data() + off, d.size() - off, pseudo);
}

bool ChecksumOkV6(const std::vector<uint8_t>& d, size_t off, uint8_t proto) {
  return ChecksumOk(d, off,
                    PseudoHeaderV6(d.data() + 8, d.data() + 24, proto,
                                   uint32_t(d.size() - off)));
}

void PutChecksum(std::vector<uint8_t>& d, size_t field, size_t from,
                 uint32_t pseudo) {
  Store16(d.data() + field, 0);
  Store16(d.data() + field,
          CsumFold(CsumPartial(d.data() + from, d.size() - from, pseudo)));
}

// ------------------------------------------------------------------ headers

unsigned Ihl(const std::vector<uint8_t>& d) { return (d[0] & 0x0f) * 4u; }

bool NonFirstFragmentV4(const std::vector<uint8_t>& d) {
  return (Load16(d.data() + 6) & 0x1fff) != 0;
}

// IcmpTypeIsError mirrors icmp_pointers[].error; a type beyond
// NR_ICMP_TYPES counts as an error too.
bool IcmpTypeIsError(uint8_t type) {
  switch (type) {
    case 0:   // echo reply
    case 8:   // echo
    case 13:  // timestamp
    case 14:  // timestamp reply
    case 15:  // info request
    case 16:  // info reply
    case 17:  // address mask request
    case 18:  // address mask reply
      return false;
    default:
      return true;
  }
}

// Ipv6AddrIsUnicast follows ipv6_addr_type's IPV6_ADDR_UNICAST: everything
// but multicast, the unspecified address and IPv4-mapped addresses.
bool Ipv6AddrIsUnicast(const uint8_t* a) {
  if (a[0] == 0xff) return false;
  static const uint8_t kZero[10] = {};
  if (std::memcmp(a, kZero, 10) != 0) return true;
  if (a[10] == 0xff && a[11] == 0xff) return false;  // ::ffff:a.b.c.d
  if (a[10] != 0 || a[11] != 0) return true;
  for (int i = 12; i < 16; ++i)
    if (a[i] != 0) return true;
  return false;  // ::
}

// TcpResetSegment fills the 20-byte RST (nf_reject_ip_tcphdr_put /
// nf_reject_ip6_tcphdr_put) answering the TCP header oth of a segment whose
// TCP part (header and data) is tcplen bytes long.
void TcpResetSegment(uint8_t* th, const uint8_t* oth, uint32_t tcplen) {
  std::memset(th, 0, 20);
  std::memcpy(th, oth + 2, 2);
  std::memcpy(th + 2, oth, 2);
  th[12] = 5 << 4;
  const uint8_t oflags = oth[13];
  if (oflags & 0x10) {  // ACK: take the peer's acknowledgement as our seq
    std::memcpy(th + 4, oth + 8, 4);
    th[13] = 0x04;
  } else {  // acknowledge everything the segment occupied
    uint32_t ack = Load32(oth + 4) + ((oflags >> 1) & 1) + (oflags & 1) +
                   tcplen - (oth[12] >> 4) * 4u;
    Store32(th + 8, ack);
    th[13] = 0x14;
  }
}

void PutIpv4Header(std::vector<uint8_t>& d, uint8_t tos, uint16_t frag,
                   uint8_t ttl, uint8_t proto, const uint8_t* src,
                   const uint8_t* dst) {
  d[0] = 0x45;
  d[1] = tos;
  Store16(d.data() + 2, uint16_t(d.size()));
  Store16(d.data() + 4, 0);
  Store16(d.data() + 6, frag);
  d[8] = ttl;
  d[9] = proto;
  std::memcpy(d.data() + 12, src, 4);
  std::memcpy(d.data() + 16, dst, 4);
  Store16(d.data() + 10, 0);
  Store16(d.data() + 10, IpChecksum(d.data(), 20));
}

void PutIpv6Header(std::vector<uint8_t>& d, uint8_t nexthdr, uint8_t hoplimit,
                   const uint8_t* src, const uint8_t* dst) {
  Store32(d.data(), 6u << 28);
  Store16(d.data() + 4, uint16_t(d.size() - 40));
  d[6] = nexthdr;
  d[7] = hoplimit;
  std::memcpy(d.data() + 8, src, 16);
  std::memcpy(d.data() + 24, dst, 16);
}

// Ipv6IcmpIneligible is icmpv6_send's is_ineligible: never answer an
// ICMPv6 error (or a packet whose ICMPv6 type cannot be read).
bool Ipv6IcmpIneligible(const std::vector<uint8_t>& d) {
  uint8_t nexthdr = d[6];
  uint16_t frag_off;
  int ptr = Ipv6SkipExthdr(d, 40, nexthdr, frag_off);
  if (ptr < 0 || nexthdr != kProtoIcmp6) return false;
  if (size_t(ptr) >= d.size()) return frag_off == 0;
  return (d[ptr] & 0x80) == 0;
}

}  // namespace

int Ipv6SkipExthdr(const std::vector<uint8_t>& d, int start, uint8_t& nexthdr,
                   uint16_t& frag_off) {
  frag_off = 0;
  for (;;) {
    switch (nexthdr) {
      case 0:   // hop-by-hop
      case 43:  // routing
      case 44:  // fragment
      case 51:  // AH
      case 60:  // destination options
        break;
      case 59:  // no next header
        return -1;
      default:
        return start;
    }
    if (size_t(start) + 2 > d.size()) return -1;
    int hdrlen;
    if (nexthdr == 44) {
      if (size_t(start) + 4 > d.size()) return -1;
      frag_off = Load16(d.data() + start + 2);
      if (frag_off & ~0x7) return start;
      hdrlen = 8;
    } else if (nexthdr == 51) {
      hdrlen = (d[start + 1] + 2) * 4;
    } else {
      hdrlen = (d[start + 1] + 1) * 8;
    }
    nexthdr = d[start];
    start += hdrlen;
  }
}

std::vector<uint8_t> TcpResetV4(const std::vector<uint8_t>& pkt, uint8_t ttl) {
  if (pkt.size() < 20 || NonFirstFragmentV4(pkt) || pkt[9] != kProtoTcp)
    return {};
  const unsigned ihl = Ihl(pkt);
  if (pkt.size() < ihl + 20u) return {};
  const uint8_t* oth = pkt.data() + ihl;
  if (oth[13] & 0x04) return {};  // no RST for a RST
  if (!ChecksumOkV4(pkt, ihl, kProtoTcp)) return {};
  std::vector<uint8_t> r(40);
  PutIpv4Header(r, 0, 0x4000, ttl, kProtoTcp, pkt.data() + 16, pkt.data() + 12);
  TcpResetSegment(r.data() + 20, oth, uint32_t(pkt.size() - ihl));
  PutChecksum(r, 36, 20,
              PseudoHeaderV4(r.data() + 12, r.data() + 16, kProtoTcp, 20));
  return r;
}

std::vector<uint8_t> IcmpErrorV4(const std::vector<uint8_t>& pkt, uint8_t type,
                                 uint8_t code, uint32_t info, const Addr& src,
                                 unsigned mtu, uint8_t ttl) {
  if (pkt.size() < 20 || NonFirstFragmentV4(pkt)) return {};
  const unsigned ihl = Ihl(pkt);
  if (IcmpTypeIsError(type) && pkt[9] == kProtoIcmp) {
    // No error about an error (nor about a type we cannot read).
    if (ihl >= pkt.size() || IcmpTypeIsError(pkt[ihl])) return {};
  }
  // As much of the packet as fits in 576 bytes (RFC 1812), less if the
  // route's MTU is smaller.
  int room = int(std::min(mtu ? mtu : 1500u, 576u)) - 20 - 8;
  if (room <= 20) return {};
  const size_t quote = std::min(pkt.size(), size_t(room));
  std::vector<uint8_t> r(28 + quote);
  // Errors get precedence "internetwork control" over the packet's TOS.
  const uint8_t tos = IcmpTypeIsError(type) ? (pkt[1] & 0x1e) | 0xc0 : pkt[1];
  PutIpv4Header(r, tos, 0, ttl, kProtoIcmp, src.b.data(), pkt.data() + 12);
  r[20] = type;
  r[21] = code;
  Store32(r.data() + 24, info);
  std::memcpy(r.data() + 28, pkt.data(), quote);
  PutChecksum(r, 22, 20, 0);
  return r;
}

std::vector<uint8_t> IcmpUnreachV4(const std::vector<uint8_t>& pkt,
                                   uint8_t code, const Addr& src, unsigned mtu,
                                   uint8_t ttl) {
  // nf_send_unreach: a first fragment whose checksum holds, where the
  // protocol has one nf_reject trusts.
  if (pkt.size() < 20 || NonFirstFragmentV4(pkt)) return {};
  const unsigned ihl = Ihl(pkt);
  const uint8_t proto = pkt[9];
  if (ihl > pkt.size()) return {};
  if (VerifiesChecksum(pkt, ihl, proto) && !ChecksumOkV4(pkt, ihl, proto))
    return {};
  return IcmpErrorV4(pkt, 3, code, 0, src, mtu, ttl);
}

std::vector<uint8_t> WithPartialTcpChecksum(std::vector<uint8_t> d) {
  const unsigned ihl = Ihl(d);
  if (d.size() < ihl + 18 || d[9] != kProtoTcp) return d;
  const uint32_t len = uint32_t(d.size() - ihl);
  const uint16_t sum = uint16_t(
      ~CsumFold(PseudoHeaderV4(d.data() + 12, d.data() + 16, kProtoTcp, len)));
  Store16(d.data() + ihl + 16, sum);
  return d;
}

std::vector<uint8_t> TcpResetV6(const std::vector<uint8_t>& pkt,
                                uint8_t hoplimit) {
  if (pkt.size() < 40) return {};
  if (!Ipv6AddrIsUnicast(pkt.data() + 8) || !Ipv6AddrIsUnicast(pkt.data() + 24))
    return {};
  uint8_t proto = pkt[6];
  uint16_t frag_off;
  int thoff = Ipv6SkipExthdr(pkt, 40, proto, frag_off);
  if (thoff < 0 || size_t(thoff) > pkt.size()) return {};
  const uint32_t tcplen = uint32_t(pkt.size() - thoff);
  if (proto != kProtoTcp || tcplen < 20) return {};
  const uint8_t* oth = pkt.data() + thoff;
  if (oth[13] & 0x04) return {};
  if (!ChecksumOkV6(pkt, thoff, kProtoTcp)) return {};
  std::vector<uint8_t> r(60);
  PutIpv6Header(r, kProtoTcp, hoplimit, pkt.data() + 24, pkt.data() + 8);
  TcpResetSegment(r.data() + 40, oth, tcplen);
  PutChecksum(r, 56, 40,
              PseudoHeaderV6(r.data() + 8, r.data() + 24, kProtoTcp, 20));
  return r;
}

std::vector<uint8_t> IcmpErrorV6(const std::vector<uint8_t>& pkt, uint8_t type,
                                 uint8_t code, uint32_t info, const Addr& src,
                                 uint8_t hoplimit) {
  if (pkt.size() < 40) return {};
  // No error to a multicast destination (but "packet too big"), from an
  // address that names no single node, or about an ICMPv6 error.
  if (pkt[24] == 0xff && type != 2) return {};
  static const uint8_t kAny[16] = {};
  if (pkt[8] == 0xff || std::memcmp(pkt.data() + 8, kAny, 16) == 0) return {};
  if (Ipv6IcmpIneligible(pkt)) return {};
  // As much as fits in the IPv6 minimum MTU.
  const size_t quote = std::min(pkt.size(), size_t(1280 - 40 - 8));
  std::vector<uint8_t> r(48 + quote);
  PutIpv6Header(r, kProtoIcmp6, hoplimit, src.b.data(), pkt.data() + 8);
  r[40] = type;
  r[41] = code;
  Store32(r.data() + 44, info);
  std::memcpy(r.data() + 48, pkt.data(), quote);
  PutChecksum(r, 42, 40,
              PseudoHeaderV6(r.data() + 8, r.data() + 24, kProtoIcmp6,
                             uint32_t(r.size() - 40)));
  return r;
}

std::vector<uint8_t> IcmpUnreachV6(const std::vector<uint8_t>& pkt,
                                   uint8_t code, const Addr& src,
                                   uint8_t hoplimit) {
  if (pkt.size() < 40) return {};
  // nf_send_unreach6 first insists on a verifiable first fragment.
  uint8_t proto = pkt[6];
  uint16_t frag_off;
  int thoff = Ipv6SkipExthdr(pkt, 40, proto, frag_off);
  if (thoff < 0 || size_t(thoff) >= pkt.size() || (frag_off & ~0x7) != 0)
    return {};
  if (VerifiesChecksum(pkt, thoff, proto) && !ChecksumOkV6(pkt, thoff, proto))
    return {};
  return IcmpErrorV6(pkt, 1, code, 0, src, hoplimit);
}

// ----------------------------------------------------------- rate limiting

bool IcmpRateLimiter::GlobalAllow(int64_t now_ms) {
  // icmp_global_allow: credit refills at icmp_msgs_per_sec up to the burst,
  // at most once per 20 ms.
  constexpr int64_t kPerSec = 1000, kBurst = 50;
  if (credit_ > 0) return true;
  int64_t delta = stamped_ ? std::min<int64_t>(now_ms - stamp_, 1000) : 1000;
  if (delta < 1000 / 50) return false;
  int64_t incr = kPerSec * delta / 1000;
  if (incr == 0) return false;
  stamp_ = now_ms;
  stamped_ = true;
  credit_ = std::min(credit_ + incr, kBurst);
  return true;
}

bool IcmpRateLimiter::Allow(Family f, const Addr& peer, uint8_t type,
                            uint8_t code, double now, bool in_loopback,
                            bool out_loopback, unsigned route_plen) {
  // Types outside the rate mask are never limited: icmp_ratemask 0x1818
  // (unreachable but for "fragmentation needed", source quench, time
  // exceeded, parameter problem); icmpv6_ratemask 0-1,3-127.
  bool masked;
  if (f == Family::kIPv4)
    masked = type <= 18 && ((0x1818u >> type) & 1) && !(type == 3 && code == 4);
  else
    masked = type <= 127 && type != 2;
  if (!masked || in_loopback) return true;
  const int64_t now_ms = int64_t(now * 1000);
  std::lock_guard<std::mutex> lock(mu_);
  if (!GlobalAllow(now_ms)) return false;
  bool ok = true;
  if (!out_loopback) {
    int64_t timeout = 1000;  // icmp_ratelimit / icmpv6_time, in ms
    if (f == Family::kIPv6 && route_plen < 128)
      timeout >>= (128 - route_plen) >> 5;
    auto key = std::make_pair(int(f), peer.b);
    auto it = peers_.find(key);
    if (it == peers_.end())  // a new inet_peer starts a minute in the past
      it = peers_.emplace(key, Bucket{0, now_ms - 60000}).first;
    Bucket& b = it->second;
    // inet_peer_xrlim_allow: tokens accrue with time, up to 6 timeouts.
    int64_t token = b.tokens;
    if (now_ms != b.last) {
      token += now_ms - b.last;
      b.last = now_ms;
      token = std::min(token, 6 * timeout);
    }
    ok = token >= timeout;
    if (ok) token -= timeout;
    b.tokens = token;
  }
  if (ok) --credit_;  // icmp_global_consume
  return ok;
}

namespace {

// -------------------------------------------------------------- the target

// How is the kernel's reject_with: ipt_reject_with (IPv4) and
// ip6t_reject_with (IPv6) share the numbering of their own tables.
struct RejectName {
  const char* name;
  const char* alias;
  int with;  // index in the family's enum
  uint8_t code;
};

constexpr int kTcpReset4 = 7, kTcpReset6 = 6;

// The order is the kernel enum's, which is also the order iptables tries
// prefixes in.
const RejectName kNames4[] = {
    {"icmp-net-unreachable", "net-unreach", 0, 0},
    {"icmp-host-unreachable", "host-unreach", 1, 1},
    {"icmp-proto-unreachable", "proto-unreach", 2, 2},
    {"icmp-port-unreachable", "port-unreach", 3, 3},
    {"icmp-net-prohibited", "net-prohib", 5, 9},
    {"icmp-host-prohibited", "host-prohib", 6, 10},
    {"tcp-reset", "tcp-rst", kTcpReset4, 0},
    {"icmp-admin-prohibited", "admin-prohib", 8, 13},
};

const RejectName kNames6[] = {
    {"icmp6-no-route", "no-route", 0, 0},
    {"icmp6-adm-prohibited", "adm-prohibited", 1, 1},
    {"icmp6-addr-unreachable", "addr-unreach", 3, 3},
    {"icmp6-port-unreachable", "port-unreach", 4, 4},
    {"tcp-reset", "tcp-reset", kTcpReset6, 0},
    {"icmp6-policy-fail", "policy-fail", 7, 5},
    {"icmp6-reject-route", "reject-route", 8, 6},
};

bool IsZero(const Addr& a) { return a == Addr{}; }

Addr AddrAt(const std::vector<uint8_t>& d, size_t off, size_t len) {
  Addr a;
  std::memcpy(a.b.data(), d.data() + off, len);
  return a;
}

// ReplyPacket wraps a reply the host sends: no mark (fwmark_reflect is
// off), no socket.
Packet ReplyPacket(Family f, std::vector<uint8_t> data) {
  Packet out;
  out.family = f;
  out.data = std::move(data);
  out.ct = nullptr;
  out.ctinfo = CtInfo::kEstablished;  // not tracked yet
  return out;
}

class RejectTarget : public Target {
 public:
  explicit RejectTarget(Family f)
      : family_(f),
        names_(f == Family::kIPv4 ? kNames4 : kNames6),
        count_(f == Family::kIPv4 ? std::size(kNames4) : std::size(kNames6)),
        index_(3) {}

  void Parse(OptCall& c) override {
    // iptables accepts any case-insensitive prefix of a name or an alias,
    // taking the first entry that fits.
    for (size_t i = 0; i < count_; ++i) {
      if (strncasecmp(names_[i].name, c.arg.c_str(), c.arg.size()) == 0 ||
          strncasecmp(names_[i].alias, c.arg.c_str(), c.arg.size()) == 0) {
        index_ = i;
        return;
      }
    }
    throw ParseError("unknown reject type \"" + c.arg + "\"");
  }

  void Check(const CheckCtx& c) override {
    if (!IsReset()) return;
    if (c.ip == nullptr || c.ip->proto != kProtoTcp ||
        (c.ip->invflags & kInvProto))
      throw CommitError(
          std::string(family_ == Family::kIPv4 ? "ip_tables" : "ip6_tables") +
          ": REJECT target: TCP_RESET invalid for non-tcp");
  }

  void Save(SaveCtx& s) const override {
    s.out += " --reject-with ";
    s.out += names_[index_].name;
  }

  Verdict Run(XtParams& p) const override {
    if (p.svc != nullptr && p.skb != nullptr) {
      if (family_ == Family::kIPv4)
        Reply4(p);
      else
        Reply6(p);
    }
    return Verdict::kDrop;
  }

 private:
  bool IsReset() const {
    return names_[index_].with ==
           (family_ == Family::kIPv4 ? kTcpReset4 : kTcpReset6);
  }

  void Reply4(XtParams& p) const {
    const Packet& skb = *p.skb;
    if (skb.data.size() < 20) return;
    const HookState* st = p.state;
    const Host* host = st ? st->host : nullptr;
    const Addr saddr = AddrAt(skb.data, 12, 4), daddr = AddrAt(skb.data, 16, 4);
    // Both nf_send_reset and icmp_send stay silent when the packet's route
    // is a broadcast or multicast one: the local table's broadcast entries
    // match whatever device the packet came in on (ip_route_input_slow).
    if (BroadcastOrMulticast4(host, daddr, nullptr)) return;
    if (IsReset()) {
      std::vector<uint8_t> rst = TcpResetV4(skb.data);
      if (rst.empty()) return;
      SetClosing(p);
      Packet out = ReplyPacket(Family::kIPv4, std::move(rst));
      out.csum_partial = true;
      p.svc->SendLocal(std::move(out));
      return;
    }
    if (skb.pkt_type != PktType::kHost) return;
    const uint8_t code = names_[index_].code;
    const uint8_t tos = (skb.data[1] & 0x1e) | 0xc0;
    // The error comes from the address the packet was sent to when that is
    // ours (RTCF_LOCAL), else from the address the route back picks.
    Addr src = daddr;
    unsigned mtu = 1500;
    if (host != nullptr) {
      Route r =
          host->RouteOutput(Family::kIPv4, saddr, Addr{}, tos, nullptr, 0);
      if (r.err != 0) return;
      if (r.mtu) mtu = r.mtu;
      bool local =
          (st && st->hook == Hook::kInput) ||
          host->AddrType(Family::kIPv4, daddr, nullptr) == RouteType::kLocal;
      if (!local) src = RouteSource(*host, r, saddr);
    }
    // A reset of ours not yet sent (CHECKSUM_PARTIAL) needs no checksum
    // check (skb_csum_unnecessary) and is quoted with its partial sum.
    std::vector<uint8_t> err =
        skb.csum_partial ? IcmpErrorV4(WithPartialTcpChecksum(skb.data), 3,
                                       code, 0, src, mtu)
                         : IcmpUnreachV4(skb.data, code, src, mtu);
    if (err.empty()) return;
    if (!p.svc->IcmpErrorAllowed(Family::kIPv4, saddr, 3, code,
                                 st ? st->in : nullptr))
      return;
    p.svc->SendLocal(ReplyPacket(Family::kIPv4, std::move(err)));
  }

  void Reply6(XtParams& p) const {
    const Packet& skb = *p.skb;
    if (skb.data.size() < 40) return;
    const HookState* st = p.state;
    const Host* host = st ? st->host : nullptr;
    const Addr saddr = AddrAt(skb.data, 8, 16),
               daddr = AddrAt(skb.data, 24, 16);
    if (IsReset()) {
      std::vector<uint8_t> rst = TcpResetV6(skb.data);
      if (rst.empty()) return;
      // nf_send_reset6 needs a route back before it builds anything.
      if (host != nullptr &&
          host->RouteOutput(Family::kIPv6, saddr, daddr, 0, nullptr, 0).err)
        return;
      SetClosing(p);
      p.svc->SendLocal(ReplyPacket(Family::kIPv6, std::move(rst)));
      return;
    }
    if (skb.pkt_type != PktType::kHost) return;
    const uint8_t code = names_[index_].code;
    Addr src = daddr;
    if (host != nullptr) {
      Route r = host->RouteOutput(Family::kIPv6, saddr, Addr{}, 0, nullptr, 0);
      if (r.err != 0) return;
      bool local =
          (st && st->hook == Hook::kInput) ||
          host->AddrType(Family::kIPv6, daddr, nullptr) == RouteType::kLocal;
      if (!local) {
        // icmp6_send: when the route back has no prefsrc of its own
        // (icmpv6_rt_has_prefsrc), ipv6_dev_get_saddr on the device the
        // packet came in on (IP6CB iif: none for a local send); failing
        // that, the source the route back picks (ip6_route_get_saddr).
        src = r.prefsrc;
        if (!r.route_prefsrc && st && st->in) {
          Addr s = host->SelectSource(Family::kIPv6, st->in, saddr);
          if (!IsZero(s)) src = s;
        }
        if (IsZero(src)) src = host->SelectSource(Family::kIPv6, r.dev, saddr);
      }
    }
    std::vector<uint8_t> err = IcmpUnreachV6(skb.data, code, src);
    if (err.empty()) return;
    if (!p.svc->IcmpErrorAllowed(Family::kIPv6, saddr, 1, code,
                                 st ? st->in : nullptr))
      return;
    p.svc->SendLocal(ReplyPacket(Family::kIPv6, std::move(err)));
  }

  static bool BroadcastOrMulticast4(const Host* host, const Addr& daddr,
                                    const Interface* in) {
    if ((daddr.b[0] & 0xf0) == 0xe0) return true;
    if (daddr.v4() == 0xffffffff || daddr.v4() == 0) return true;
    return host != nullptr &&
           host->AddrType(Family::kIPv4, daddr, in) == RouteType::kBroadcast;
  }

  // RouteSource is the source icmp_route_lookup ends up with for saddr 0:
  // the route's preferred source, else the device's address (chosen
  // towards the gateway when there is one), else INADDR_DUMMY.
  static Addr RouteSource(const Host& host, const Route& r, const Addr& dst) {
    if (!IsZero(r.prefsrc)) return r.prefsrc;
    if (r.type == RouteType::kLocal) return dst;
    Addr s = host.SelectSource(Family::kIPv4, r.dev,
                               IsZero(r.gateway) ? dst : r.gateway);
    if (IsZero(s)) s = Addr::FromV4(kIcmpDummySource);
    return s;
  }

  // SetClosing is nf_ct_set_closing after a reset: a confirmed TCP
  // connection moves to CLOSE with the CLOSE timeout (10 s).
  static void SetClosing(XtParams& p) {
    Conn* ct = p.skb->ct;
    if (ct == nullptr || ct->tuple[0].proto != kProtoTcp) return;
    const uint32_t status = ct->status.load();
    if (!(status & kIpsConfirmed)) return;
    constexpr uint8_t kTcpClose = 8;  // TCP_CONNTRACK_CLOSE
    const uint8_t old = ct->tcp().state;
    ct->tcp().state = kTcpClose;
    if (old == kTcpClose || (status & kIpsFixedTimeout)) return;
    ct->expires = (p.state ? p.state->now : p.skb->tstamp) + 10;
  }

  Family family_;
  const RejectName* names_;
  size_t count_;
  size_t index_;
};

// REJECT is only valid in the filter table, from INPUT, FORWARD and OUTPUT
// (the kernel's xt_target .table and .hooks).
constexpr HookMask kRejectHooks =
    HookBit(Hook::kInput) | HookBit(Hook::kForward) | HookBit(Hook::kOutput);

std::vector<OptionEntry> RejectOptions() {
  return {{"reject-with", 0, OptType::kString}};
}

NETFENCE_REGISTER(RegisterTarget({
    .name = "REJECT",
    .family = Family::kIPv4,
    .options = RejectOptions(),
    .hooks = kRejectHooks,
    .table = "filter",
    .create = [] { return std::make_unique<RejectTarget>(Family::kIPv4); },
}));

NETFENCE_REGISTER(RegisterTarget({
    .name = "REJECT",
    .family = Family::kIPv6,
    .options = RejectOptions(),
    .hooks = kRejectHooks,
    .table = "filter",
    .create = [] { return std::make_unique<RejectTarget>(Family::kIPv6); },
}));

}  // namespace
}  // namespace netfence::ext
