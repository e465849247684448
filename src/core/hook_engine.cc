#include "core/hook_engine.h"

#include <fmt/format.h>

#include "core/commit.h"
#include "core/pktinfo.h"
#include "core/restore.h"

namespace netfence::core {

namespace {

// Step is one function registered at a hook.
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

// LoadsConntrack lists the extensions whose kernel checkentry loads
// connection tracking for the family (nf_ct_netns_get). A nat table alone
// does not: without conntrack its chains are never consulted.
bool LoadsConntrack(const Rule& r) {
  static const char* kMatches[] = {"state",     "conntrack", "connmark",
                                   "connlimit", "helper",    "connbytes",
                                   "connlabel", "cluster"};
  static const char* kTargets[] = {"CONNMARK", "SNAT",     "DNAT",
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

}  // namespace

const TableRuntime* FamilyTables::Find(const std::string& name) const {
  for (const auto& t : tables)
    if (t->table().name == name) return t.get();
  return nullptr;
}

// Hooking is the state of one Run.
struct HookEngine::Hooking {
  HookState st;
  Packet* pkt;
  HookSink* sink;
  HookResult* res;
};

// EngineServices gives targets what they may ask of the engine.
class EngineServices : public PacketServices {
 public:
  EngineServices(HookEngine& e, HookEngine::Hooking& h) : e_(e), h_(h) {}
  void Log(const std::string& line) override { h_.sink->Log(line); }
  void SendLocal(Packet pkt) override {
    // nf_ct_attach: the reply belongs to the packet's connection, in the
    // other direction, as RELATED.
    const Packet& cur = *h_.pkt;
    if (cur.ct != nullptr) {
      const bool orig_dir = cur.ctinfo == CtInfo::kNew ||
                            cur.ctinfo == CtInfo::kEstablished ||
                            cur.ctinfo == CtInfo::kRelated;
      pkt.ct = cur.ct;
      pkt.ct_ref = cur.ct_ref;
      pkt.ctinfo = orig_dir ? CtInfo::kRelatedReply : CtInfo::kRelated;
    }
    pkt.tstamp = h_.st.now;
    // icmp_send / icmpv6_send transmit on the namespace's ICMP control
    // socket; TCP resets go out without a socket.
    const bool icmp = pkt.data.size() > 9 &&
                      (pkt.family == Family::kIPv4 ? pkt.data[9] == 1
                                                   : pkt.data[6] == 58);
    if (icmp && !pkt.sk) {
      SockOwner ctl;
      ctl.has_file = false;
      pkt.sk = ctl;
    }
    h_.sink->SendLocal(std::move(pkt));
  }
  Verdict SetupNat(XtParams& p, const NatRange& r, NatManip m) override {
    if (p.skb->ct == nullptr) return Verdict::kAccept;
    bool random = false;
    Verdict v;
    {
      std::lock_guard<std::mutex> lock(e_.ct_.mutex());
      v = e_.nat_.SetupInfo(*p.skb->ct, r, m, &random);
    }
    if (random) h_.res->nat_random = true;
    return v;
  }
  uint32_t Random() override {
    std::lock_guard<std::mutex> lock(e_.rng_mu_);
    return uint32_t(e_.rng_());
  }
  const Conn* FindConn(const Tuple& t, uint16_t zone) override {
    std::lock_guard<std::mutex> lock(e_.ct_.mutex());
    return e_.ct_.Find(t, zone, nullptr, h_.st.now);
  }
  bool IcmpErrorAllowed(Family f, const Addr& dst, uint8_t type, uint8_t code,
                        const Interface* in) override {
    return h_.sink->IcmpErrorAllowed(f, dst, type, code, in);
  }

 private:
  HookEngine& e_;
  HookEngine::Hooking& h_;
};

HookEngine::HookEngine(EngineOptions opts)
    : opts_(opts),
      rng_(opts.seed),
      ct_(opts.conntrack),
      nat_(ct_, [this] {
        std::lock_guard<std::mutex> lock(rng_mu_);
        return uint32_t(rng_());
      }) {
  v4_.store(std::make_shared<FamilyTables>());
  v6_.store(std::make_shared<FamilyTables>());
}

HookEngine::~HookEngine() = default;

std::shared_ptr<const FamilyTables> HookEngine::SetRules(
    Family f, std::unique_ptr<Ruleset> rs) {
  auto ft = std::make_shared<FamilyTables>();
  if (rs) {
    for (auto& t : rs->tables) {
      for (const Chain& c : t->chains)
        for (const Rule& r : c.rules) ft->conntrack = ft->conntrack || LoadsConntrack(r);
      ft->tables.push_back(
          std::make_unique<TableRuntime>(std::move(t), opts_.tables));
    }
  }
  auto& slot = f == Family::kIPv4 ? v4_ : v6_;
  return slot.exchange(std::move(ft));
}

std::shared_ptr<const FamilyTables> HookEngine::Rules(Family f) const {
  return (f == Family::kIPv4 ? v4_ : v6_).load();
}

bool HookEngine::ConntrackActive(Family f) const { return Rules(f)->conntrack; }

std::string HookEngine::Save(Family f, bool counters) const {
  auto ft = Rules(f);
  std::vector<const Table*> tables;
  for (const auto& t : ft->tables) {
    // Folding only copies atomics into the model; concurrent hooks may
    // still add to the live counters.
    const_cast<TableRuntime&>(*t).FoldCounters();
    tables.push_back(&t->table());
  }
  return SaveTables(tables, counters);
}

namespace {

// Tracer writes the kernel's TRACE lines (ipt_do_table's trace_packet) for
// packets marked by the TRACE target: one per rule that matched, and for the
// policy or implicit return that ended a chain.
class Tracer : public RuleVisitor {
 public:
  Tracer(const Packet& skb, const HookState& st, HookSink& sink)
      : skb_(skb), st_(st), sink_(sink) {}
  void Hit(const Table& t, int chain, int rule) override {
    if (!skb_.nftrace) return;
    PacketDumpFn dump = PacketDump();
    if (dump == nullptr) return;
    const Chain& c = t.chains[chain];
    // An unconditional verdict reads like the chain's own end to the
    // kernel's trace (get_chainname_rulenum).
    const bool tail = rule < 0 || (c.rules[rule].kind == TargetKind::kStandard &&
                                   Unconditional(c.rules[rule]));
    const char* what = !tail ? "rule" : c.builtin ? "policy" : "return";
    const size_t num = rule >= 0 ? size_t(rule) + 1 : c.rules.size() + 1;
    // NF_LOG_DEFAULT_MASK: TCP sequence and options, IP options, uid.
    sink_.Log(dump(skb_, st_.hook, st_.in, st_.out,
                   fmt::format("TRACE: {}:{}:{}:{} ", t.name, c.name, what, num),
                   0x0f));
  }

 private:
  const Packet& skb_;
  const HookState& st_;
  HookSink& sink_;
};

}  // namespace

bool HookEngine::RunTable(Hooking& h, const FamilyTables& ft,
                          const char* name) {
  const TableRuntime* t = ft.Find(name);
  if (t == nullptr) return true;
  EngineServices svc(*this, h);
  XtParams p;
  p.skb = h.pkt;
  p.state = &h.st;
  p.svc = &svc;
  PktInfo pi = ComputePktInfo(*h.pkt);
  // Only raw (where TRACE runs) can start tracing in the middle of a walk.
  Tracer tracer(*h.pkt, h.st, *h.sink);
  const bool trace = h.pkt->nftrace || t->table().name == "raw";
  Decision d = t->Run(h.st.hook, p, pi, trace ? &tracer : nullptr);
  if (d.verdict == Verdict::kAccept) return true;
  const Chain& c = t->table().chains[d.chain];
  h.res->where = d.rule < 0
                     ? fmt::format("{}/{}/policy", name, c.name)
                     : fmt::format("{}/{}/{}", name, c.name, d.rule + 1);
  return false;
}

bool HookEngine::NatHook(Hooking& h, const FamilyTables& ft) {
  Packet& pkt = *h.pkt;
  Conn* ct = pkt.ct;
  if (ct == nullptr) return true;  // untracked and invalid packets
  const bool icmp = pkt.family == Family::kIPv4
                        ? pkt.data[9] == 1
                        : ComputePktInfo(pkt).l4proto == 58;
  const bool related = pkt.ctinfo == CtInfo::kRelated ||
                       pkt.ctinfo == CtInfo::kRelatedReply;
  if (related && icmp) {
    // ICMP errors about a connection only follow its mapping.
    if (nat_.IcmpReplyTranslation(pkt, h.st.hook)) return true;
    h.res->where = "nat";
    return false;
  }
  const NatManip m = ManipForHook(h.st.hook);
  if ((pkt.ctinfo == CtInfo::kNew || related) && !NatInitialized(*ct, m)) {
    // Only a connection's first packet consults the nat table.
    if (!RunTable(h, ft, "nat")) return false;
    if (!NatInitialized(*ct, m)) {
      bool random = false;
      std::lock_guard<std::mutex> lock(ct_.mutex());
      nat_.NullBinding(*ct, h.st.hook, &random);
      if (random) h.res->nat_random = true;
    }
  }
  if (nat_.ManipPacket(pkt, h.st.hook) != Verdict::kAccept) {
    h.res->where = "nat";
    return false;
  }
  return true;
}

bool HookEngine::Reassemble(Hooking& h) {
  DefragResult r;
  {
    std::lock_guard<std::mutex> lock(defrag_mu_);
    r = defrag_.Process(*h.pkt, h.st.now);
  }
  if (r == DefragResult::kNotFragment || r == DefragResult::kComplete)
    return true;
  h.res->where = "defrag";
  return false;
}

HookResult HookEngine::Run(Hook hook, Packet& pkt, const Interface* in,
                           const Interface* out, const Host* host, double now,
                           HookSink& sink) {
  HookResult res;
  Hooking h;
  h.st.hook = hook;
  h.st.family = pkt.family;
  h.st.in = in;
  h.st.out = out;
  h.st.host = host;
  h.st.now = now;
  h.pkt = &pkt;
  h.sink = &sink;
  h.res = &res;
  // The ruleset this hook started with stays alive until it ends.
  std::shared_ptr<const FamilyTables> ft = Rules(pkt.family);
  const bool ct_on = ft->conntrack;
  for (const Step& step : HookSteps(hook)) {
    bool ok = true;
    switch (step.kind) {
      case StepKind::kDefrag:
        // nf_defrag runs wherever conntrack does (priority -400).
        ok = !ct_on || Reassemble(h);
        break;
      case StepKind::kTable:
        ok = RunTable(h, *ft, step.table);
        break;
      case StepKind::kConntrack:
        if (ct_on && ct_.In(pkt, hook, now) != Verdict::kAccept) {
          res.where = "conntrack";
          ok = false;
        }
        break;
      case StepKind::kNat:
        ok = !ct_on || NatHook(h, *ft);
        break;
      case StepKind::kConfirm:
        if (ct_on && ct_.Confirm(pkt, now, h.st.out) != Verdict::kAccept) {
          res.where = "conntrack";
          ok = false;
        }
        break;
    }
    if (!ok) {
      res.accepted = false;
      return res;
    }
  }
  return res;
}

}  // namespace netfence::core
