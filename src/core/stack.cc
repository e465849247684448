#include "core/stack.h"

#include <fmt/format.h>

#include <cstring>
#include <stdexcept>

#include "core/checksum.h"
#include "core/nat_core.h"
#include "core/pktinfo.h"
#include "core/restore.h"

namespace netfence::core {

namespace {

constexpr int kMaxDepth = 4;  // nested local sends (REJECT of a REJECT ...)

// Step is one function registered at a hook, in the kernel's priority
// order: tables (raw -300, mangle -150, nat -100 / +100, filter 0,
// security 50),
// conntrack (-200 at PREROUTING / OUTPUT) and its confirmation (last at
// INPUT / POSTROUTING).
enum class StepKind : uint8_t { kDefrag, kTable, kConntrack, kNat, kConfirm };
struct Step {
  StepKind kind;
  const char* table;
};

const std::vector<Step>& HookSteps(Hook h) {
  using K = StepKind;
  static const std::vector<Step> kPre = {{K::kDefrag, nullptr},
                                         {K::kTable, "raw"},
                                         {K::kConntrack, nullptr},
                                         {K::kTable, "mangle"},
                                         {K::kNat, "nat"}};
  static const std::vector<Step> kIn = {{K::kTable, "mangle"},
                                        {K::kTable, "filter"},
                                        {K::kTable, "security"},
                                        {K::kNat, "nat"},
                                        {K::kConfirm, nullptr}};
  static const std::vector<Step> kFwd = {{K::kTable, "mangle"},
                                         {K::kTable, "filter"},
                                         {K::kTable, "security"}};
  static const std::vector<Step> kOut = {{K::kDefrag, nullptr},
                                         {K::kTable, "raw"},
                                         {K::kConntrack, nullptr},
                                         {K::kTable, "mangle"},
                                         {K::kNat, "nat"},
                                         {K::kTable, "filter"},
                                         {K::kTable, "security"}};
  static const std::vector<Step> kPost = {{K::kTable, "mangle"},
                                          {K::kNat, "nat"},
                                          {K::kConfirm, nullptr}};
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

// Extensions whose kernel checkentry loads connection tracking for the
// family (nf_ct_netns_get). A nat table alone does not: without conntrack
// its chains are never consulted.
bool LoadsConntrack(const Rule& r) {
  static const char* kMatches[] = {"state",     "conntrack", "connmark",
                                   "connlimit", "helper",    "connbytes",
                                   "connlabel", "cluster"};
  static const char* kTargets[] = {"CONNMARK", "SNAT",   "DNAT",
                                   "MASQUERADE", "REDIRECT", "NETMAP"};
  for (const auto& m : r.matches)
    for (const char* n : kMatches)
      if (m.type->name == n) return true;
  if (r.kind != TargetKind::kExtension) return false;
  const std::string& t = r.target_type->name;
  for (const char* n : kTargets)
    if (t == n) return true;
  if (t == "CT") {
    // CT --notrack attaches nothing and so loads nothing.
    std::string text;
    IpFilter ip;
    SaveCtx sc{text, ip, ip.family};
    r.target->Save(sc);
    return text.find("--notrack") == std::string::npos;
  }
  return false;
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
  StackServices(NetStack& s, NetStack::Run& r, const Packet& cur)
      : stack_(s), run_(r), cur_(cur) {}
  void Log(const std::string& line) override { run_.out->log.push_back(line); }
  void SendLocal(Packet pkt) override {
    if (run_.depth >= kMaxDepth) return;
    NetStack::Run nested = run_;
    nested.depth++;
    nested.emitted = true;
    pkt.tstamp = stack_.now_;
    // nf_ct_attach: the reply belongs to the packet's connection, in the
    // other direction, as RELATED.
    if (cur_.ct != nullptr) {
      const bool orig_dir = cur_.ctinfo == CtInfo::kNew ||
                            cur_.ctinfo == CtInfo::kEstablished ||
                            cur_.ctinfo == CtInfo::kRelated;
      pkt.ct = cur_.ct;
      pkt.ct_ref = cur_.ct_ref;
      pkt.ctinfo = orig_dir ? CtInfo::kRelatedReply : CtInfo::kRelated;
    }
    stack_.LocalOut(nested, std::move(pkt), true);
  }
  Verdict SetupNat(XtParams& p, const NatRange& r, NatManip m) override {
    if (p.skb->ct == nullptr) return Verdict::kAccept;
    bool random = false;
    Verdict v = stack_.nat_->SetupInfo(*p.skb->ct, r, m, &random);
    if (random) run_.out->nat_random = true;
    return v;
  }
  uint32_t Random() override { return uint32_t(stack_.rng_()); }

 private:
  NetStack& stack_;
  NetStack::Run& run_;
  const Packet& cur_;
};

NetStack::NetStack(const Host& host, StackOptions opts)
    : host_(host), opts_(opts), rng_(opts.seed), ct_(opts.conntrack) {
  nat_ = std::make_unique<NatCore>(ct_, [this] { return uint32_t(rng_()); });
}

NetStack::~NetStack() = default;

void NetStack::SetRules(Family f, std::unique_ptr<Ruleset> rs) {
  FamilyTables& ft = Tables(f);
  ft.tables.clear();
  if (!rs) return;
  bool active = false;
  for (auto& t : rs->tables) {
    for (const Chain& c : t->chains)
      for (const Rule& r : c.rules) active = active || LoadsConntrack(r);
    ft.tables.push_back(std::make_unique<TableRuntime>(std::move(t)));
  }
  (f == Family::kIPv4 ? ct_active4_ : ct_active6_) = active;
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

bool NetStack::RunTable(Run& run, Packet& pkt, const char* name,
                        const HookState& st) {
  const TableRuntime* t = Tables(pkt.family).Find(name);
  if (t == nullptr) return true;
  StackServices svc(*this, run, pkt);
  XtParams p;
  p.skb = &pkt;
  p.state = &st;
  p.svc = &svc;
  PktInfo pi = ComputePktInfo(pkt);
  Decision d = t->Run(st.hook, p, pi, nullptr);
  if (d.verdict == Verdict::kAccept) return true;
  if (!run.emitted) {
    const Chain& c = t->table().chains[d.chain];
    run.out->where = d.rule < 0
                         ? fmt::format("{}/{}/policy", name, c.name)
                         : fmt::format("{}/{}/{}", name, c.name, d.rule + 1);
  }
  return false;
}

bool NetStack::NatHook(Run& run, Packet& pkt, const HookState& st) {
  Conn* ct = pkt.ct;
  if (ct == nullptr) return true;  // untracked and invalid packets
  const bool icmp = pkt.family == Family::kIPv4 ? pkt.data[9] == 1
                                                : ComputePktInfo(pkt).l4proto == 58;
  const bool related = pkt.ctinfo == CtInfo::kRelated ||
                       pkt.ctinfo == CtInfo::kRelatedReply;
  if (related && icmp) {
    if (nat_->IcmpReplyTranslation(pkt, st.hook)) return true;
    if (!run.emitted) run.out->where = "nat";
    return false;
  }
  const NatManip m = ManipForHook(st.hook);
  if ((pkt.ctinfo == CtInfo::kNew || related) && !NatInitialized(*ct, m)) {
    // Only a connection's first packet consults the nat table.
    if (!RunTable(run, pkt, "nat", st)) return false;
    if (!NatInitialized(*ct, m)) {
      bool random = false;
      nat_->NullBinding(*ct, st.hook, &random);
      if (random) run.out->nat_random = true;
    }
  }
  if (nat_->ManipPacket(pkt, st.hook) != Verdict::kAccept) {
    if (!run.emitted) run.out->where = "nat";
    return false;
  }
  return true;
}

bool NetStack::RunHook(Run& run, Packet& pkt, Hook h, const Interface* in,
                       const Interface* out) {
  HookState st;
  st.hook = h;
  st.family = pkt.family;
  st.in = in;
  st.out = out;
  st.host = &host_;
  st.now = now_;
  const bool ct_on = ConntrackActive(pkt.family);
  for (const Step& step : HookSteps(h)) {
    switch (step.kind) {
      case StepKind::kDefrag:
        // nf_defrag runs wherever conntrack does (priority -400).
        if (ct_on && !Reassemble(run, pkt)) return false;
        break;
      case StepKind::kTable:
        if (!RunTable(run, pkt, step.table, st)) return false;
        break;
      case StepKind::kConntrack:
        if (ct_on && ct_.In(pkt, h, now_) != Verdict::kAccept) {
          if (!run.emitted) run.out->where = "conntrack";
          return false;
        }
        break;
      case StepKind::kNat:
        if (ct_on && !NatHook(run, pkt, st)) return false;
        break;
      case StepKind::kConfirm:
        if (ct_on && ct_.Confirm(pkt, now_) != Verdict::kAccept) {
          if (!run.emitted) run.out->where = "conntrack";
          return false;
        }
        break;
    }
  }
  return true;
}

bool NetStack::Reassemble(Run& run, Packet& pkt) {
  switch (defrag_.Process(pkt, now_)) {
    case DefragResult::kNotFragment:
    case DefragResult::kComplete:
      return true;
    case DefragResult::kQueued:
    case DefragResult::kDropped:
      if (!run.emitted) run.out->where = "defrag";
      return false;
  }
  return false;
}

void NetStack::Finish(Run& run, const Packet& pkt) {
  if (ConntrackActive(pkt.family) && run.out->accepted)
    run.out->ct = CtStateName(pkt);
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
  if (rt.type != RouteType::kLocal && rt.type != RouteType::kBroadcast &&
      rt.type != RouteType::kMulticast) {
    if (!emitted) run.out->where = "route";
    return;
  }
  // ip_local_deliver reassembles IPv4 before INPUT even without conntrack;
  // IPv6 reassembles only after INPUT (ip6_input's extension handlers).
  if (pkt.family == Family::kIPv4 && !Reassemble(run, pkt)) return;
  if (!RunHook(run, pkt, Hook::kInput, in, nullptr)) return;
  if (emitted) return;
  run.out->accepted = true;
  run.out->to_local = true;
  run.out->data = pkt.data;
  Finish(run, pkt);
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
  run.out->accepted = true;
  run.out->to_local = false;
  run.out->oif = out ? out->name : "";
  run.out->data = pkt.data;
  Finish(run, pkt);
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
    // An ID of 0 is chosen by the kernel (ip_select_ident): the ID and the
    // header checksum that covers it are not predictable.
    if (Load16(d.data() + 4) == 0)
      run.out->unstable.insert(run.out->unstable.end(), {4, 5, 10, 11});
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
    if (rt.err == -22) return fail("invalid");  // -EINVAL
    if (rt.err != 0) return fail("output");
  }
  PostRouting(run, std::move(pkt), nullptr, rt, emitted);
}

}  // namespace netfence::core
