#include "core/stack.h"

#include <fmt/format.h>

#include <cstring>
#include <stdexcept>

#include "core/checksum.h"
#include "core/pktinfo.h"
#include "core/restore.h"

namespace netfence::core {

namespace {

constexpr int kMaxDepth = 4;  // nested local sends (REJECT of a REJECT ...)

// The tables each hook visits, in priority order (raw -300, mangle -150,
// nat -100 at PREROUTING/OUTPUT, filter 0, nat +100 at INPUT/POSTROUTING).
const std::vector<const char*>& HookTables(Hook h) {
  static const std::vector<const char*> kPre = {"raw", "mangle", "nat"};
  static const std::vector<const char*> kIn = {"mangle", "filter", "nat"};
  static const std::vector<const char*> kFwd = {"mangle", "filter"};
  static const std::vector<const char*> kOut = {"raw", "mangle", "nat",
                                                "filter"};
  static const std::vector<const char*> kPost = {"mangle", "nat"};
  switch (h) {
    case Hook::kPrerouting:
      return kPre;
    case Hook::kInput:
      return kIn;
    case Hook::kForward:
      return kFwd;
    case Hook::kOutput:
      return kOut;
    case Hook::kPostrouting:
      return kPost;
  }
  return kPre;
}

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

}  // namespace

const TableRuntime* FamilyTables::Find(const std::string& name) const {
  for (const auto& t : tables)
    if (t->table().name == name) return t.get();
  return nullptr;
}

// Run is the state of one input packet's processing.
struct NetStack::Run {
  Outcome* out = nullptr;
  int depth = 0;
  bool emitted = false;  // processing a packet the host itself sent
};

// StackServices gives targets access to the stack during one hook.
class StackServices : public PacketServices {
 public:
  StackServices(NetStack& s, NetStack::Run& r) : stack_(s), run_(r) {}
  void Log(const std::string& line) override { run_.out->log.push_back(line); }
  void SendLocal(Packet pkt) override {
    if (run_.depth >= kMaxDepth) return;
    NetStack::Run nested = run_;
    nested.depth++;
    nested.emitted = true;
    pkt.tstamp = stack_.now_;
    stack_.LocalOut(nested, std::move(pkt), true);
  }
  Verdict SetupNat(XtParams&, const NatRange&, NatManip) override {
    throw std::logic_error("NAT is not implemented yet");
  }
  uint32_t Random() override { return uint32_t(stack_.rng_()); }

 private:
  NetStack& stack_;
  NetStack::Run& run_;
};

NetStack::NetStack(const Host& host, StackOptions opts)
    : host_(host), opts_(opts), rng_(opts.seed) {}

NetStack::~NetStack() = default;

void NetStack::SetRules(Family f, std::unique_ptr<Ruleset> rs) {
  FamilyTables& ft = Tables(f);
  ft.tables.clear();
  if (!rs) return;
  for (auto& t : rs->tables) {
    if (t->name == "nat")
      throw std::runtime_error(
          "the nat table needs connection tracking and NAT, which are not "
          "implemented yet");
    ft.tables.push_back(std::make_unique<TableRuntime>(std::move(t)));
  }
}

std::string NetStack::SaveWithCounters(Family f) {
  std::vector<const Table*> tables;
  for (auto& t : Tables(f).tables) {
    t->FoldCounters();
    tables.push_back(&t->table());
  }
  return SaveTables(tables, true);
}

bool NetStack::PreHookChecks(const Packet& pkt) const {
  const auto& d = pkt.data;
  if (pkt.pkt_type == PktType::kOtherHost) return false;
  if (pkt.family == Family::kIPv4) {
    if (d.size() < 20) return false;
    const unsigned ihl = d[0] & 0x0f;
    if (ihl < 5 || (d[0] >> 4) != 4) return false;
    if (d.size() < ihl * 4) return false;
    if (IpChecksum(d.data(), ihl * 4) != 0) return false;
    const unsigned len = Load16(d.data() + 2);
    if (d.size() < len || len < ihl * 4) return false;
    return true;
  }
  if (d.size() < 40 || (d[0] >> 4) != 6) return false;
  const unsigned plen = Load16(d.data() + 4);
  if ((plen || d[6] != 0) && plen + 40 > d.size()) return false;
  // ipv6_rcv: multicast source, loopback on a real device, reserved
  // multicast scopes.
  if (d[8] == 0xff) return false;
  return true;
}

bool NetStack::RunHook(Run& run, Packet& pkt, Hook h, const Interface* in,
                       const Interface* out) {
  FamilyTables& ft = Tables(pkt.family);
  HookState st;
  st.hook = h;
  st.family = pkt.family;
  st.in = in;
  st.out = out;
  st.host = &host_;
  st.now = now_;
  StackServices svc(*this, run);
  for (const char* name : HookTables(h)) {
    const TableRuntime* t = ft.Find(name);
    if (t == nullptr) continue;
    XtParams p;
    p.skb = &pkt;
    p.state = &st;
    p.svc = &svc;
    PktInfo pi = ComputePktInfo(pkt);
    Decision d = t->Run(h, p, pi, nullptr);
    if (d.verdict == Verdict::kAccept) continue;
    if (!run.emitted) {
      const Chain& c = t->table().chains[d.chain];
      run.out->where =
          d.rule < 0 ? fmt::format("{}/{}/policy", name, c.name)
                     : fmt::format("{}/{}/{}", name, c.name, d.rule + 1);
    }
    return false;
  }
  return true;
}

Outcome NetStack::Receive(Packet pkt, const Interface* in) {
  Outcome out;
  Run run;
  run.out = &out;
  now_ = pkt.tstamp;
  if (!PreHookChecks(pkt)) {
    out.where = "before-hooks";
    return out;
  }
  if (pkt.family == Family::kIPv4)
    pkt.data.resize(Load16(pkt.data.data() + 2));
  else if (Load16(pkt.data.data() + 4) || pkt.data[6] != 0)
    pkt.data.resize(Load16(pkt.data.data() + 4) + 40);
  Input(run, std::move(pkt), in, false);
  return out;
}

void NetStack::Input(Run& run, Packet pkt, const Interface* in,
                     bool emitted) {
  if (!RunHook(run, pkt, Hook::kPrerouting, in, nullptr)) return;
  Route rt = host_.RouteInput(pkt.family, DstAddr(pkt), SrcAddr(pkt),
                              Tos(pkt), in, pkt.mark);
  if (rt.err != 0) {
    if (!emitted) run.out->where = "route";
    return;
  }
  if (rt.type == RouteType::kUnicast) {
    Forward(run, std::move(pkt), in, rt);
    return;
  }
  if (rt.type != RouteType::kLocal && rt.type != RouteType::kBroadcast &&
      rt.type != RouteType::kMulticast) {
    if (!emitted) run.out->where = "route";
    return;
  }
  if (!RunHook(run, pkt, Hook::kInput, in, nullptr)) return;
  if (emitted) return;
  run.out->accepted = true;
  run.out->to_local = true;
  run.out->data = pkt.data;
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
    const unsigned mtu = rt.mtu ? rt.mtu : (rt.dev ? rt.dev->mtu : 1500);
    if (d.size() > mtu) {
      run.out->where = "mtu";
      return;
    }
    d[7]--;
  }
  if (!RunHook(run, pkt, Hook::kForward, in, rt.dev)) return;
  PostRouting(run, std::move(pkt), in, rt.dev, false);
}

void NetStack::PostRouting(Run& run, Packet pkt, const Interface* in,
                           const Interface* out, bool emitted) {
  if (!RunHook(run, pkt, Hook::kPostrouting, in, out)) return;
  if (out != nullptr && out->loopback) {
    // Looped back: the packet is received again on lo.
    if (emitted) run.out->emitted.push_back({out->name, pkt.data, {}});
    Packet again = pkt;
    again.pkt_type = PktType::kHost;
    again.has_mac = false;
    again.sk.reset();
    Input(run, std::move(again), out, emitted);
    return;
  }
  if (emitted) {
    run.out->emitted.push_back({out ? out->name : "", pkt.data, {}});
    return;
  }
  run.out->accepted = true;
  run.out->to_local = false;
  run.out->oif = out ? out->name : "";
  run.out->data = pkt.data;
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
  Route rt = host_.RouteOutput(pkt.family, DstAddr(pkt), Addr{}, Tos(pkt),
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
    if (Load16(d.data() + 4) == 0) run.out->unstable.insert(run.out->unstable.end(), {4, 5});
    const unsigned ihl = (d[0] & 0x0f) * 4;
    Store16(d.data() + 10, 0);
    Store16(d.data() + 10, IpChecksum(d.data(), ihl));
  }
  const uint32_t mark0 = pkt.mark;
  const Addr src0 = SrcAddr(pkt), dst0 = DstAddr(pkt);
  if (!RunHook(run, pkt, Hook::kOutput, nullptr, rt.dev)) return;
  if (pkt.mark != mark0 || !(SrcAddr(pkt) == src0) || !(DstAddr(pkt) == dst0)) {
    // ip_route_me_harder: a changed mark or address routes again.
    rt = host_.RouteOutput(pkt.family, DstAddr(pkt), SrcAddr(pkt), Tos(pkt),
                           nullptr, pkt.mark);
    if (rt.err != 0) return fail("output");
  }
  PostRouting(run, std::move(pkt), nullptr, rt.dev, emitted);
}

}  // namespace netfence::core
