#include "core/stack.h"

#include <algorithm>
#include <cstring>

#include "core/checksum.h"

namespace netfence::core {

namespace {

constexpr int kMaxDepth = 4;  // nested local sends (REJECT of a REJECT ...)

Addr SrcAddr(const Packet& p) {
  Addr a;
  if (p.family == Family::kIPv4)
    std::memcpy(a.b.data(), p.data.data() + 12, 4);
  else
    std::memcpy(a.b.data(), p.data.data() + 8, 16);
  return a;
}

Addr DstAddr(const Packet& p) {
  Addr a;
  if (p.family == Family::kIPv4)
    std::memcpy(a.b.data(), p.data.data() + 16, 4);
  else
    std::memcpy(a.b.data(), p.data.data() + 24, 16);
  return a;
}

uint8_t Tos(const Packet& p) {
  if (p.family == Family::kIPv4) return p.data[1];
  return uint8_t((Load16(p.data.data()) >> 4) & 0xff);
}

// MakeEmitted records a packet the host sent. The host picks the IPv4 ID of
// what it sends without DF (ICMP errors) at random; the header checksum
// covers it.
Emitted MakeEmitted(const Interface* out, const Packet& pkt) {
  Emitted e{out ? out->name : "", pkt.data, {}};
  if (pkt.family == Family::kIPv4 && !(Load16(pkt.data.data() + 6) & 0x4000))
    e.unstable = {4, 5, 10, 11};
  return e;
}

}  // namespace

// Run is the state of one input packet's processing.
struct NetStack::Run {
  Outcome* out = nullptr;
  int depth = 0;
  bool emitted = false;  // processing a packet the host itself sent
};

// Sink sends targets' replies back through the simulated stack.
class NetStack::Sink : public HookSink {
 public:
  Sink(NetStack& s, Run& r) : stack_(s), run_(r) {}
  void Log(const std::string& line) override { run_.out->log.push_back(line); }
  void SendLocal(Packet pkt) override {
    if (run_.depth >= kMaxDepth) return;
    Run nested = run_;
    nested.depth++;
    nested.emitted = true;
    stack_.LocalOut(nested, std::move(pkt), true);
  }

 private:
  NetStack& stack_;
  Run& run_;
};

NetStack::NetStack(const Host& host, StackOptions opts)
    : host_(host), engine_(opts) {}

NetStack::~NetStack() = default;

void NetStack::SetRules(Family f, std::unique_ptr<Ruleset> rs) {
  engine_.SetRules(f, std::move(rs));
}

bool NetStack::RunHook(Run& run, Packet& pkt, Hook h, const Interface* in,
                       const Interface* out) {
  Sink sink(*this, run);
  HookResult r = engine_.Run(h, pkt, in, out, &host_, now_, sink);
  if (r.nat_random) run.out->nat_random = true;
  if (!r.accepted && !run.emitted) run.out->where = r.where;
  return r.accepted;
}

void NetStack::Deliver(Run& run, const Packet& pkt, const Interface* out) {
  run.out->accepted = true;
  run.out->to_local = out == nullptr;
  run.out->oif = out ? out->name : "";
  run.out->data = pkt.data;
  if (engine_.ConntrackActive(pkt.family)) run.out->ct = CtStateName(pkt);
}

bool NetStack::PreHookChecks(const Packet& pkt, const Interface* in) const {
  const auto& d = pkt.data;
  if (pkt.pkt_type == PktType::kOtherHost) return false;
  if (pkt.family == Family::kIPv4) {
    // ip_rcv_core: header sanity, checksum, lengths.
    if (d.size() < 20) return false;
    const unsigned ihl = d[0] & 0x0f;
    if (ihl < 5 || (d[0] >> 4) != 4) return false;
    if (d.size() < ihl * 4) return false;
    if (IpChecksum(d.data(), ihl * 4) != 0) return false;
    const unsigned len = Load16(d.data() + 2);
    if (d.size() < len || len < ihl * 4) return false;
    return true;
  }
  // ipv6_rcv / ip6_rcv_core.
  if (d.size() < 40 || (d[0] >> 4) != 6) return false;
  const bool lo_dev = in != nullptr && in->loopback;
  if (in != nullptr && std::none_of(in->addrs.begin(), in->addrs.end(),
                                    [](const IfAddr& a) {
                                      return a.family == Family::kIPv6;
                                    }))
    return false;  // an interface without IPv6 addresses has it disabled
  static const uint8_t kLoopback[16] = {0, 0, 0, 0, 0, 0, 0, 0,
                                        0, 0, 0, 0, 0, 0, 0, 1};
  const bool src_lo = std::memcmp(d.data() + 8, kLoopback, 16) == 0;
  const bool dst_lo = std::memcmp(d.data() + 24, kLoopback, 16) == 0;
  if ((src_lo || dst_lo) && !lo_dev) return false;
  const bool dst_mc = d[24] == 0xff;
  if (!lo_dev && dst_mc && (d[25] & 0x0f) == 1) return false;  // node-local
  if (dst_mc && (d[25] & 0x0f) == 0) return false;              // reserved
  if (d[8] == 0xff) return false;  // multicast source
  const unsigned plen = Load16(d.data() + 4);
  if ((plen || d[6] != 0) && plen + 40 > d.size()) return false;
  return true;
}

Outcome NetStack::Receive(Packet pkt, const Interface* in) {
  Outcome out;
  Run run;
  run.out = &out;
  now_ = pkt.tstamp;
  if (!PreHookChecks(pkt, in)) {
    out.where = "before-hooks";
    return out;
  }
  if (pkt.family == Family::kIPv4)
    pkt.data.resize(Load16(pkt.data.data() + 2));
  else if (Load16(pkt.data.data() + 4) || pkt.data[6] != 0)
    pkt.data.resize(Load16(pkt.data.data() + 4) + 40);
  Input(run, std::move(pkt), in, false, nullptr);
  return out;
}

void NetStack::Input(Run& run, Packet pkt, const Interface* in,
                     bool emitted, const Route* looped) {
  const Addr dst0 = DstAddr(pkt);
  if (!RunHook(run, pkt, Hook::kPrerouting, in, nullptr)) return;
  // A looped-back packet keeps the route it was sent with (ip_rcv_finish
  // only routes again when PREROUTING changed its destination).
  Route rt = looped != nullptr && DstAddr(pkt) == dst0
                 ? *looped
                 : host_.RouteInput(pkt.family, DstAddr(pkt), SrcAddr(pkt),
                                    Tos(pkt), in, pkt.mark);
  if (rt.err != 0) {
    if (!emitted) run.out->where = "route";
    return;
  }
  if (rt.type == RouteType::kUnicast) {
    Forward(run, std::move(pkt), in, rt);
    return;
  }
  // IPv6 anycast routes in the local table (the subnet-router address of a
  // forwarding interface) deliver locally too.
  if (rt.type != RouteType::kLocal && rt.type != RouteType::kBroadcast &&
      rt.type != RouteType::kMulticast && rt.type != RouteType::kAnycast) {
    if (!emitted) run.out->where = "route";
    return;
  }
  // ip_local_deliver reassembles IPv4 before INPUT even without conntrack;
  // IPv6 reassembles only after INPUT (ip6_input's extension handlers).
  if (pkt.family == Family::kIPv4) {
    DefragResult d = engine_.Defragment(pkt, now_);
    if (d == DefragResult::kQueued || d == DefragResult::kDropped) {
      if (!emitted) run.out->where = "defrag";
      return;
    }
  }
  if (!RunHook(run, pkt, Hook::kInput, in, nullptr)) return;
  if (!emitted) Deliver(run, pkt, nullptr);
}

// ip6_forward's source check for a packet that leaves by another device
// than the one it came in on (the same device takes the redirect branch,
// which checks nothing): the unspecified address, a multicast or loopback
// one is dropped silently, a link-local one too. (For a link-local source
// the kernel also sends an ICMPv6 "beyond scope of source address" error:
// the stack's own error, like time-exceeded for an exhausted hop limit,
// which the contract leaves out and netfence does not emit.)
static bool ForwardableSource6(const Packet& pkt, const Interface* in,
                               const Route& rt) {
  if (in == nullptr || rt.dev == nullptr || in->ifindex == rt.dev->ifindex)
    return true;
  const Addr s = SrcAddr(pkt);
  Addr loopback;
  loopback.b[15] = 1;
  const bool link_local = s.b[0] == 0xfe && (s.b[1] & 0xc0) == 0x80;
  return !(s == Addr{} || s == loopback || s.b[0] == 0xff || link_local);
}

void NetStack::Forward(Run& run, Packet pkt, const Interface* in,
                       const Route& rt) {
  if (!host_.Forwarding(pkt.family) || pkt.pkt_type != PktType::kHost) {
    run.out->where = "route";
    return;
  }
  auto& d = pkt.data;
  if (pkt.family == Family::kIPv4) {
    if (d[8] <= 1) {
      run.out->where = "ttl";
      return;
    }
    const unsigned mtu = rt.mtu ? rt.mtu : (rt.dev ? rt.dev->mtu : 1500);
    if (d.size() > mtu && (Load16(d.data() + 6) & 0x4000)) {
      run.out->where = "mtu";
      return;
    }
    DecreaseTtl(d.data());
  } else {
    if (d[7] <= 1) {
      run.out->where = "ttl";
      return;
    }
    if (!ForwardableSource6(pkt, in, rt)) {
      run.out->where = "route";
      return;
    }
    const unsigned mtu = rt.mtu ? rt.mtu : (rt.dev ? rt.dev->mtu : 1500);
    if (d.size() > mtu) {
      run.out->where = "mtu";
      return;
    }
    d[7]--;
  }
  if (!RunHook(run, pkt, Hook::kForward, in, rt.dev)) return;
  PostRouting(run, std::move(pkt), in, rt, false);
}

void NetStack::PostRouting(Run& run, Packet pkt, const Interface* in,
                           const Route& rt, bool emitted) {
  const Interface* out = rt.dev;
  if (!RunHook(run, pkt, Hook::kPostrouting, in, out)) return;
  if (out != nullptr && out->loopback) {
    // Looped back: the packet is received again on lo.
    if (emitted) run.out->emitted.push_back(MakeEmitted(out, pkt));
    Packet again = pkt;
    again.pkt_type = PktType::kHost;
    again.has_mac = false;
    again.sk.reset();
    Input(run, std::move(again), out, emitted, &rt);
    return;
  }
  if (emitted) {
    run.out->emitted.push_back(MakeEmitted(out, pkt));
    return;
  }
  Deliver(run, pkt, out);
}

uint16_t NetStack::NextIpId() {
  // A fixed, unremarkable sequence: it only has to differ from one send to
  // the next (and is flagged unstable in the output).
  next_ip_id_ = uint16_t(next_ip_id_ + 0x9e37);
  if (next_ip_id_ == 0) next_ip_id_ = 0x9e37;
  return next_ip_id_;
}

Outcome NetStack::Send(Packet pkt) {
  Outcome out;
  Run run;
  run.out = &out;
  now_ = pkt.tstamp;
  LocalOut(run, std::move(pkt), false);
  return out;
}

void NetStack::LocalOut(Run& run, Packet pkt, bool emitted) {
  auto& d = pkt.data;
  auto fail = [&](const char* why) {
    if (!emitted) run.out->where = why;
  };
  if (pkt.family == Family::kIPv4) {
    if (d.size() < 20 || (d[0] & 0x0f) * 4u > d.size()) return fail("invalid");
  } else if (d.size() < 40) {
    return fail("invalid");
  }
  // rawv6_sendmsg routes a send to :: as one to ::1 (the BSD habit); the
  // header keeps ::.
  Addr route_dst = DstAddr(pkt);
  if (pkt.family == Family::kIPv6 && !emitted && route_dst == Addr{})
    route_dst.b[15] = 1;
  Route rt = host_.RouteOutput(pkt.family, route_dst, Addr{}, Tos(pkt),
                               nullptr, pkt.mark);
  if (rt.err != 0) return fail("route");
  if (pkt.family == Family::kIPv4 && !emitted) {
    // raw_send_hdrinc fills what the sender left out.
    if (SrcAddr(pkt) == Addr{}) {
      Addr src = rt.prefsrc == Addr{}
                     ? host_.SelectSource(pkt.family, rt.dev, DstAddr(pkt))
                     : rt.prefsrc;
      std::memcpy(d.data() + 12, src.b.data(), 4);
    }
    Store16(d.data() + 2, uint16_t(d.size()));
    // An ID of 0 is replaced by ip_select_ident (socketless): kept for a DF
    // packet, else one from ip_idents_reserve, a counter per (source,
    // destination, protocol) bucket advanced by a random step. Its value
    // (and the header checksum that covers it) is not predictable, but two
    // such sends never share an ID, so their fragments never reassemble
    // together.
    if (Load16(d.data() + 4) == 0 && !(Load16(d.data() + 6) & 0x4000)) {
      Store16(d.data() + 4, NextIpId());
      run.out->unstable.insert(run.out->unstable.end(), {4, 5, 10, 11});
    }
    const unsigned ihl = (d[0] & 0x0f) * 4;
    Store16(d.data() + 10, 0);
    Store16(d.data() + 10, IpChecksum(d.data(), ihl));
  }
  const uint32_t mark0 = pkt.mark;
  const Addr src0 = SrcAddr(pkt), dst0 = DstAddr(pkt);
  if (!RunHook(run, pkt, Hook::kOutput, nullptr, rt.dev)) return;
  if (pkt.mark != mark0 || !(SrcAddr(pkt) == src0) || !(DstAddr(pkt) == dst0)) {
    // ip_route_me_harder: a changed mark or address routes again. An IPv4
    // source the host would route as unicast (its own, or a foreign one as
    // on a REJECT reply to a forwarded packet) is kept and need not be the
    // host's (FLOWI_FLAG_ANYSRC); a broadcast or multicast one is dropped
    // from the lookup.
    Addr src = SrcAddr(pkt);
    if (pkt.family == Family::kIPv4) {
      const RouteType t = host_.AddrType(pkt.family, src, rt.dev);
      if (t != RouteType::kLocal && t != RouteType::kUnicast) src = Addr{};
    }
    rt = host_.RouteOutputAnySrc(pkt.family, DstAddr(pkt), src, Tos(pkt),
                                 nullptr, pkt.mark);
    if (rt.err == -22) return fail("invalid");  // -EINVAL
    if (rt.err != 0) return fail("output");
  }
  PostRouting(run, std::move(pkt), nullptr, rt, emitted);
}

}  // namespace netfence::core
