// The compiled rule index must never change what a table walk does. Every
// test here runs the same packets through a linear and a compiled runtime
// of the same ruleset and compares everything observable: the decision
// (verdict, chain, rule), the rules that matched in order (the visitor), the
// side effects of targets and matches in order (log lines, sent packets, NAT
// calls, draws from the random generator), the packet afterwards and every
// counter. Rulesets: random ones (addresses with masks and inversions,
// interfaces with '+', protocols, ports, ICMP types, fragments, user chains,
// jumps, gotos, RETURN, LOG, MARK, stateful matches), the corpus and the
// ClassBench sets with their traces (sampled to keep CI short). The index
// alone is also checked against a brute-force scan of its boxes, through
// random inserts and erases.
#include "core/classifier.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "core/do_table.h"
#include "core/host.h"
#include "core/pktinfo.h"
#include "core/restore.h"
#include "core/stack.h"
#include "io/classbench.h"
#include "io/file.h"
#include "io/host_json.h"
#include "io/packets_json.h"
#include "io/system_resolver.h"
#include "tests/shared_dir.h"

namespace netfence {
namespace {

using namespace core;

// RewriteTarget ("-j NFTESTREWRITE") changes the destination address and
// the ports of a packet and continues: the index must read the header again.
class RewriteTarget : public Target {
 public:
  Verdict Run(XtParams& p) const override {
    uint8_t* d = p.skb->data.data();
    const bool v4 = p.skb->family == Family::kIPv4;
    d[v4 ? 19 : 39] ^= 1;
    d[v4 ? 17 : 26] ^= 1;
    if (p.thoff + 4 <= p.skb->data.size()) d[p.thoff + 3] ^= 0x10;
    return Verdict::kContinue;
  }
};
NETFENCE_REGISTER(RegisterTarget({
    .name = "NFTESTREWRITE",
    .create = [] { return std::make_unique<RewriteTarget>(); },
}));

// Recorder sees everything a walk does besides its decision.
class Recorder : public RuleVisitor, public PacketServices {
 public:
  std::vector<std::string> events;
  void Hit(const Table& t, int chain, int rule) override {
    events.push_back(fmt::format("hit {} {}", chain, rule));
  }
  void Log(const std::string& line) override {
    events.push_back("log " + line);
  }
  void SendLocal(Packet pkt) override {
    events.push_back(fmt::format("send {}", pkt.data.size()));
  }
  Verdict SetupNat(XtParams&, const NatRange&, NatManip) override {
    events.push_back("nat");
    return Verdict::kAccept;
  }
  uint32_t Random() override {
    state_ = state_ * 6364136223846793005ull + 1442695040888963407ull;
    events.push_back("random");
    return uint32_t(state_ >> 33);
  }

 private:
  uint64_t state_ = 42;
};

// Pair is one table as a linear and as a compiled runtime.
struct Pair {
  std::unique_ptr<TableRuntime> lin, cmp;
  Recorder rl, rc;
  size_t packets = 0, indexed_walks = 0;
};

std::unique_ptr<Ruleset> Load(const std::string& text, Family f) {
  static io::SystemResolver resolver;
  RestoreOptions o;
  o.family = f;
  o.resolver = &resolver;
  return Restore(text, o);
}

// MakePairs builds both runtimes of every table of a ruleset text.
std::vector<std::unique_ptr<Pair>> MakePairs(const std::string& text, Family f,
                                             ClassifierOptions co) {
  auto a = Load(text, f), b = Load(text, f);
  std::vector<std::unique_ptr<Pair>> out;
  for (size_t i = 0; i < a->tables.size(); ++i) {
    auto p = std::make_unique<Pair>();
    RuntimeOptions lo, c;
    lo.compiled = false;
    c.classifier = co;
    p->lin = std::make_unique<TableRuntime>(std::move(a->tables[i]), lo);
    p->cmp = std::make_unique<TableRuntime>(std::move(b->tables[i]), c);
    out.push_back(std::move(p));
  }
  return out;
}

// The host targets may consult (TCPMSS routes); set by the corpus test.
const Host* g_host = nullptr;

// Compare runs one packet through both runtimes of a pair at hook h.
void Compare(Pair& pr, Hook h, const Packet& pkt, const Interface* in,
             const Interface* out, double now, const std::string& ctx) {
  Packet a = pkt, b = pkt;
  HookState st;
  st.hook = h;
  st.family = pkt.family;
  st.in = in;
  st.out = out;
  st.now = now;
  st.host = g_host;
  XtParams pa, pb;
  pa.skb = &a;
  pa.state = &st;
  pa.svc = &pr.rl;
  pb.skb = &b;
  pb.state = &st;
  pb.svc = &pr.rc;
  const PktInfo pi = ComputePktInfo(a);
  pr.rl.events.clear();
  pr.rc.events.clear();
  const Decision da = pr.lin->Run(h, pa, pi, &pr.rl);
  const Decision db = pr.cmp->Run(h, pb, pi, &pr.rc);
  ++pr.packets;
  PacketKey k;
  if (pr.cmp->compiled() && MakePacketKey(pb, pi, 0, k)) ++pr.indexed_walks;
  ASSERT_EQ(int(da.verdict), int(db.verdict)) << ctx;
  ASSERT_EQ(da.chain, db.chain) << ctx;
  ASSERT_EQ(da.rule, db.rule) << ctx;
  ASSERT_EQ(pr.rl.events, pr.rc.events) << ctx;
  ASSERT_EQ(a.data, b.data) << ctx;
  ASSERT_EQ(a.mark, b.mark) << ctx;
}

void CompareCounters(Pair& pr, const std::string& ctx) {
  pr.lin->FoldCounters();
  pr.cmp->FoldCounters();
  const Table& x = pr.lin->table();
  const Table& y = pr.cmp->table();
  ASSERT_EQ(x.chains.size(), y.chains.size());
  for (size_t c = 0; c < x.chains.size(); ++c) {
    const Chain& cx = x.chains[c];
    const Chain& cy = y.chains[c];
    EXPECT_EQ(cx.policy_counters.pkts, cy.policy_counters.pkts)
        << ctx << " " << cx.name;
    EXPECT_EQ(cx.policy_counters.bytes, cy.policy_counters.bytes)
        << ctx << " " << cx.name;
    for (size_t r = 0; r < cx.rules.size(); ++r) {
      EXPECT_EQ(cx.rules[r].counters.pkts, cy.rules[r].counters.pkts)
          << ctx << " " << cx.name << " rule " << r + 1;
      EXPECT_EQ(cx.rules[r].counters.bytes, cy.rules[r].counters.bytes)
          << ctx << " " << cx.name << " rule " << r + 1;
    }
  }
}

// ---- Random rulesets and packets -------------------------------------

struct Gen {
  explicit Gen(uint32_t seed) : rng(seed) {}
  std::mt19937 rng;
  bool Coin(double p) {
    return std::uniform_real_distribution<>(0, 1)(rng) < p;
  }
  int Int(int lo, int hi) {
    return std::uniform_int_distribution<>(lo, hi)(rng);
  }
  template <typename T>
  const T& Pick(const std::vector<T>& v) {
    return v[size_t(Int(0, int(v.size()) - 1))];
  }
  std::string Inv() { return Coin(0.15) ? " !" : ""; }
};

const std::vector<uint32_t> kV4Bases = {0x0a000000, 0x0a010000, 0xc0a80100,
                                        0xac100500, 0x08080808, 0x01020304};
const std::vector<std::string> kIfPatterns = {"eth0", "eth1", "eth+", "e+",
                                              "lo",   "ppp0", "ppp+"};
const std::vector<uint16_t> kPorts = {22, 53, 80, 443, 1024, 8080, 65535};

std::string V4Addr(Gen& g) {
  const uint32_t a =
      g.Pick(kV4Bases) | uint32_t(g.Int(0, 3) << 8 | g.Int(0, 7));
  std::string s = fmt::format("{}.{}.{}.{}", a >> 24, (a >> 16) & 255,
                              (a >> 8) & 255, a & 255);
  if (g.Coin(0.07)) return s + "/255.0.255.0";  // not a prefix
  return s + "/" +
         std::to_string(g.Pick(std::vector<int>{0, 8, 16, 24, 30, 32}));
}

std::string V6Addr(Gen& g) {
  static const std::vector<std::string> kBases = {
      "2001:db8:1::", "2001:db8:2::", "2001:db8:1:5::", "fe80::", "::"};
  std::string s = g.Pick(kBases) + std::to_string(g.Int(0, 3));
  if (g.Coin(0.05)) return s + "/ffff:ffff::ffff";  // not a prefix
  return s + "/" +
         std::to_string(g.Pick(std::vector<int>{0, 16, 32, 48, 64, 128}));
}

std::string PortSpec(Gen& g) {
  const uint16_t a = g.Pick(kPorts);
  if (g.Coin(0.6)) return std::to_string(a);
  const uint16_t b = g.Pick(kPorts);
  return fmt::format("{}:{}", std::min(a, b), std::max(a, b));
}

std::string RandomRule(Gen& g, const std::string& chain, int chain_no, bool v6,
                       int n) {
  std::string r = "-A " + chain;
  if (g.Coin(0.6)) r += g.Inv() + " -s " + (v6 ? V6Addr(g) : V4Addr(g));
  if (g.Coin(0.6)) r += g.Inv() + " -d " + (v6 ? V6Addr(g) : V4Addr(g));
  if (chain != "OUTPUT" && g.Coin(0.25))
    r += g.Inv() + " -i " + g.Pick(kIfPatterns);
  if (chain != "INPUT" && g.Coin(0.25))
    r += g.Inv() + " -o " + g.Pick(kIfPatterns);
  // Pure or stateful matches before the port match test which port
  // matches the index may use.
  std::string pre;
  if (g.Coin(0.1)) pre += " -m comment --comment c" + std::to_string(n);
  if (g.Coin(0.08)) pre += " -m mark --mark 0x1/0x1";
  if (g.Coin(0.08)) pre += " -m statistic --mode nth --every 3 --packet 0";
  if (g.Coin(0.05)) pre += " -m statistic --mode random --probability 0.5";
  const int proto = g.Int(0, 9);
  if (proto <= 2) {
    const char* name = proto == 0 ? "udp" : "tcp";
    r += " -p " + std::string(name) + pre;
    if (g.Coin(0.8)) {
      r += " -m " + std::string(name);
      if (g.Coin(0.6)) r += g.Inv() + " --sport " + PortSpec(g);
      if (g.Coin(0.8)) r += g.Inv() + " --dport " + PortSpec(g);
      if (proto == 2 && g.Coin(0.3)) r += g.Inv() + " --syn";
    }
  } else if (proto == 3) {
    r += v6 ? " -p ipv6-icmp" : " -p icmp";
    r += pre;
    if (g.Coin(0.7)) {
      static const std::vector<std::string> kTypes = {"8", "0",   "3/1",
                                                      "3", "128", "135"};
      r += v6 ? " -m icmp6" + g.Inv() + " --icmpv6-type " + g.Pick(kTypes)
              : " -m icmp" + g.Inv() + " --icmp-type " +
                    (g.Coin(0.15) ? std::string("any") : g.Pick(kTypes));
    }
  } else if (proto == 4) {
    r += g.Inv() + " -p tcp" + pre;
  } else if (proto == 5) {
    r += " -p 47" + pre;
  } else if (proto == 6) {
    r += " -p all" + pre;
  } else {
    r += pre;
  }
  if (!v6 && g.Coin(0.08)) r += g.Inv() + " -f";
  if (g.Coin(0.1)) r += " -m statistic --mode nth --every 2 --packet 1";
  if (g.Coin(0.05)) r += " -m limit --limit 20/sec --limit-burst 3";
  // Jumps only go to later user chains, so there are no loops.
  const int t = g.Int(0, 19);
  const int first_user = std::max(chain_no + 1, 3);
  if (t <= 3) return r + " -j ACCEPT";
  if (t <= 6) return r + " -j DROP";
  if (t <= 8) return r + " -j RETURN";
  if (t <= 11 && first_user <= 5)
    return r + (g.Coin(0.7) ? " -j U" : " -g U") +
           std::to_string(g.Int(first_user, 5) - 2);
  if (t == 12) return r + fmt::format(" -j LOG --log-prefix \"r{} \"", n);
  if (t <= 14)
    return r + fmt::format(" -j MARK --set-xmark 0x{:x}/0xff", n & 0xff);
  if (t == 15) return r + " -j NFTESTREWRITE";
  return r;  // no target: counts only
}

std::string RandomRuleset(Gen& g, int nrules, bool v6) {
  static const std::vector<std::string> kChains = {"INPUT", "FORWARD", "OUTPUT",
                                                   "U1",    "U2",      "U3"};
  std::vector<std::vector<std::string>> rules(kChains.size());
  for (int i = 0; i < nrules; ++i) {
    // Most rules in FORWARD, so long chains (that get an index) appear.
    const int c = g.Coin(0.5) ? 1 : g.Int(0, 5);
    rules[c].push_back(RandomRule(g, kChains[c], c, v6, i));
  }
  std::string s =
      "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n"
      ":OUTPUT ACCEPT [0:0]\n:U1 - [0:0]\n:U2 - [0:0]\n:U3 - [0:0]\n";
  for (const auto& c : rules)
    for (const auto& r : c) s += r + "\n";
  return s + "COMMIT\n";
}

void FillL4(Gen& g, Packet& p, size_t off, uint8_t proto) {
  // Written in full, then cut to what the (maybe truncated) packet holds.
  uint8_t t[20] = {};
  struct Copy {
    Packet& p;
    size_t off;
    const uint8_t* t;
    ~Copy() {
      for (size_t i = 0; i < 20 && off + i < p.data.size(); ++i)
        p.data[off + i] = t[i];
    }
  } copy{p, off, t};
  if (proto == 6 || proto == 17) {
    Store16(t, g.Coin(0.7) ? g.Pick(kPorts) : uint16_t(g.Int(0, 65535)));
    Store16(t + 2, g.Coin(0.7) ? g.Pick(kPorts) : uint16_t(g.Int(0, 65535)));
    if (proto == 6) {
      t[12] = 5 << 4;
      t[13] = uint8_t(g.Pick(std::vector<int>{0x02, 0x10, 0x12, 0x11, 0x04}));
    }
  } else if (proto == 1 || proto == 58) {
    t[0] = uint8_t(g.Pick(std::vector<int>{8, 0, 3, 11, 128, 135}));
    t[1] = uint8_t(g.Int(0, 3));
  }
}

size_t L4Len(uint8_t proto) {
  return proto == 6 ? 20 : (proto == 17 || proto == 1 || proto == 58) ? 8 : 4;
}

Packet RandomV4(Gen& g) {
  static const std::vector<int> kProtos = {6, 6, 17, 17, 1, 47, 50};
  const uint8_t proto = uint8_t(g.Pick(kProtos));
  Packet p;
  size_t l4 = L4Len(proto);
  const int shape = g.Int(0, 19);  // 0: truncated; 1-2: later fragment
  if (shape == 0) l4 = size_t(g.Int(0, int(l4) - 1));
  p.data.assign(20 + l4, 0);
  uint8_t* d = p.data.data();
  d[0] = 0x45;
  Store16(d + 2, uint16_t(p.data.size()));
  d[8] = 64;
  d[9] = proto;
  if (shape == 1) Store16(d + 6, 1);                        // offset 8
  if (shape == 2) Store16(d + 6, uint16_t(g.Int(2, 100)));  // later
  if (shape == 3) Store16(d + 6, 0x2000);                   // MF, first
  auto addr = [&] {
    return g.Coin(0.8) ? g.Pick(kV4Bases) | uint32_t(g.Int(0, 0x3ff))
                       : uint32_t(g.rng());
  };
  Store32(d + 12, addr());
  Store32(d + 16, addr());
  if (shape != 1 && shape != 2) FillL4(g, p, 20, proto);
  return p;
}

Packet RandomV6(Gen& g) {
  static const std::vector<int> kProtos = {6, 6, 17, 58, 47};
  const uint8_t proto = uint8_t(g.Pick(kProtos));
  const int shape = g.Int(0, 19);  // 0: truncated; 1: fragment; 2: hop-by-hop
                                   // 3: broken extension chain
  size_t l4 = L4Len(proto);
  if (shape == 0) l4 = size_t(g.Int(0, int(l4) - 1));
  size_t ext = shape == 1 || shape == 2 ? 8 : 0;
  Packet p;
  p.family = Family::kIPv6;
  p.data.assign(40 + ext + l4, 0);
  uint8_t* d = p.data.data();
  d[0] = 0x60;
  Store16(d + 4, uint16_t(p.data.size() - 40));
  d[7] = 64;
  static const std::vector<std::array<uint8_t, 6>> kPrefixes = {
      {0x20, 0x01, 0x0d, 0xb8, 0, 1},
      {0x20, 0x01, 0x0d, 0xb8, 0, 2},
      {0xfe, 0x80, 0, 0, 0, 0}};
  for (int side = 0; side < 2; ++side) {
    uint8_t* a = d + 8 + 16 * side;
    const auto& pre = g.Pick(kPrefixes);
    std::copy(pre.begin(), pre.end(), a);
    if (g.Coin(0.3)) a[7] = 5;
    a[15] = uint8_t(g.Int(0, 3));
  }
  if (shape == 1) {
    d[6] = 44;
    d[40] = proto;
    Store16(d + 42, g.Coin(0.5) ? 0 : uint16_t(g.Int(1, 20) << 3));
  } else if (shape == 2) {
    d[6] = 0;
    d[40] = proto;
  } else if (shape == 3) {
    d[6] = 0;  // a hop-by-hop header that is not there
    p.data.resize(40);
    Store16(d + 4, 0);
    return p;
  } else {
    d[6] = proto;
  }
  if (!(shape == 1 && Load16(d + 42) != 0)) FillL4(g, p, 40 + ext, proto);
  return p;
}

Interface MakeIf(const std::string& name) {
  Interface i;
  i.name = name;
  return i;
}

void RunRandom(uint32_t seed, bool v6, int nrules, int npackets,
               ClassifierOptions co) {
  Gen g(seed);
  const std::string text = RandomRuleset(g, nrules, v6);
  std::vector<std::unique_ptr<Pair>> pairs;
  try {
    pairs = MakePairs(text, v6 ? Family::kIPv6 : Family::kIPv4, co);
  } catch (const std::exception& e) {
    FAIL() << "seed " << seed << ": " << e.what() << "\n" << text;
  }
  ASSERT_EQ(pairs.size(), 1u);
  Pair& pr = *pairs[0];
  static const std::vector<Interface> kIfs = {MakeIf("eth0"),
                                              MakeIf("eth1"),
                                              MakeIf("eth2"),
                                              MakeIf("lo"),
                                              MakeIf("ppp0"),
                                              MakeIf("eth0.100"),
                                              MakeIf("averyveryverylong")};
  static const std::vector<Hook> kHooks = {Hook::kForward, Hook::kForward,
                                           Hook::kInput, Hook::kOutput};
  for (int i = 0; i < npackets; ++i) {
    const Packet p = v6 ? RandomV6(g) : RandomV4(g);
    const Hook h = g.Pick(kHooks);
    const Interface* in = h == Hook::kOutput
                              ? nullptr
                              : &kIfs[size_t(g.Int(0, int(kIfs.size()) - 1))];
    const Interface* out = h == Hook::kInput
                               ? nullptr
                               : &kIfs[size_t(g.Int(0, int(kIfs.size()) - 1))];
    Compare(pr, h, p, in, out, i * 0.01,
            fmt::format("seed {} packet {}\n{}", seed, i, text));
    if (::testing::Test::HasFatalFailure()) return;
  }
  CompareCounters(pr, fmt::format("seed {}", seed));
  EXPECT_TRUE(pr.cmp->compiled()) << "seed " << seed;
}

TEST(ClassifierProperty, RandomIPv4Rulesets) {
  ClassifierOptions co;
  co.min_rules = 1;  // index even short chains
  co.leaf_size = 2;  // and cut deep trees
  for (uint32_t seed = 1; seed <= 60; ++seed) {
    RunRandom(seed, false, 20 + int(seed % 7) * 30, 400, co);
    if (::testing::Test::HasFatalFailure()) return;
  }
}

TEST(ClassifierProperty, RandomIPv4RulesetsDefaultOptions) {
  for (uint32_t seed = 100; seed <= 115; ++seed) {
    RunRandom(seed, false, 300, 400, ClassifierOptions{});
    if (::testing::Test::HasFatalFailure()) return;
  }
}

TEST(ClassifierProperty, RandomIPv4RulesetsOneTree) {
  ClassifierOptions co;
  co.min_rules = 1;
  co.partition = false;
  co.leaf_size = 3;
  for (uint32_t seed = 200; seed <= 215; ++seed) {
    RunRandom(seed, false, 120, 300, co);
    if (::testing::Test::HasFatalFailure()) return;
  }
}

TEST(ClassifierProperty, RandomIPv6Rulesets) {
  ClassifierOptions co;
  co.min_rules = 1;
  co.leaf_size = 2;
  for (uint32_t seed = 300; seed <= 330; ++seed) {
    RunRandom(seed, true, 20 + int(seed % 5) * 40, 400, co);
    if (::testing::Test::HasFatalFailure()) return;
  }
}

// ---- The index alone against a brute-force scan ------------------------

RuleBox RandomBox(Gen& g) {
  RuleBox b;
  auto range = [&](int f, uint32_t max) {
    if (g.Coin(0.3)) return;  // wildcard
    uint32_t a = uint32_t(g.Int(0, int(std::min<uint32_t>(max, 4000))));
    if (f <= kFieldDst) a = g.Pick(kV4Bases) + a;
    const uint32_t w = g.Coin(0.5) ? 0 : uint32_t(g.Int(0, 300));
    b.lo[f] = a;
    b.hi[f] = std::min<uint64_t>(uint64_t(a) + w, max);
  };
  range(kFieldSrc, ~0u);
  range(kFieldDst, ~0u);
  range(kFieldSport, 0xffff);
  range(kFieldDport, 0xffff);
  if (g.Coin(0.6))
    b.lo[kFieldProto] = b.hi[kFieldProto] =
        uint32_t(g.Pick(std::vector<int>{1, 6, 17}));
  b.frag_ok = uint8_t(g.Pick(std::vector<int>{3, 3, 3, 1, 2}));
  return b;
}

PacketKey RandomKey(Gen& g, const std::vector<RuleBox>& boxes) {
  PacketKey k{};
  if (!boxes.empty() && g.Coin(0.7)) {
    // Inside (or at the edge of) a box, so lookups often hit.
    const RuleBox& b = boxes[size_t(g.Int(0, int(boxes.size()) - 1))];
    for (int f = 0; f < kNumClsFields; ++f) {
      const uint32_t span = b.hi[f] - b.lo[f];
      k.f[f] = g.Coin(0.2) ? (g.Coin(0.5) ? b.lo[f] : b.hi[f])
                           : b.lo[f] + uint32_t(g.rng() % (uint64_t(span) + 1));
    }
  } else {
    k.f[kFieldSrc] = g.Pick(kV4Bases) + uint32_t(g.Int(0, 5000));
    k.f[kFieldDst] = g.Pick(kV4Bases) + uint32_t(g.Int(0, 5000));
    k.f[kFieldSport] = uint32_t(g.Int(0, 65535));
    k.f[kFieldDport] = uint32_t(g.Int(0, 65535));
    k.f[kFieldProto] = uint32_t(g.Pick(std::vector<int>{1, 6, 17, 47}));
  }
  k.later_frag = g.Coin(0.1);
  return k;
}

bool BoxHas(const RuleBox& b, const PacketKey& k) {
  for (int f = 0; f < kNumClsFields; ++f)
    if (k.f[f] < b.lo[f] || k.f[f] > b.hi[f]) return false;
  return (b.frag_ok >> k.later_frag) & 1;
}

// CheckIndex compares every Next answer for some keys with a scan.
void CheckIndex(Gen& g, const ChainIndex& ix, const std::vector<RuleBox>& boxes,
                int nkeys, const std::string& ctx) {
  ASSERT_EQ(ix.size(), boxes.size()) << ctx;
  for (int q = 0; q < nkeys; ++q) {
    const PacketKey k = RandomKey(g, boxes);
    ClsCursor c;
    uint32_t i = 0;
    while (true) {
      uint32_t want = i;
      while (want < boxes.size() && !BoxHas(boxes[want], k)) ++want;
      const uint32_t got = ix.Next(i, k, c);
      ASSERT_EQ(got, want) << ctx << " key " << q << " from " << i;
      if (got >= boxes.size()) break;
      i = got + 1 + uint32_t(g.Int(0, 2));  // skip some, as a walk may
      if (i > boxes.size()) break;
    }
  }
}

TEST(ClassifierIndex, NextMatchesScanThroughInsertsAndErases) {
  for (uint32_t seed = 1; seed <= 12; ++seed) {
    Gen g(seed);
    ClassifierOptions o;
    o.leaf_size = int(seed % 3) * 4 + 4;
    o.partition = seed % 4 != 0;
    std::vector<RuleBox> boxes;
    const int n = 50 + int(seed) * 40;
    for (int i = 0; i < n; ++i) boxes.push_back(RandomBox(g));
    ChainIndex ix(Family::kIPv4, 0, o);
    ix.BuildBoxes(boxes);
    CheckIndex(g, ix, boxes, 300, fmt::format("seed {} built", seed));
    for (int step = 0; step < 150; ++step) {
      if (boxes.empty() || g.Coin(0.6)) {
        const uint32_t pos = uint32_t(g.Int(0, int(boxes.size())));
        RuleBox b = RandomBox(g);
        if (!boxes.empty() && g.Coin(0.3))
          b = boxes[size_t(g.Int(0, int(boxes.size()) - 1))];
        boxes.insert(boxes.begin() + pos, b);
        ix.InsertBox(pos, b);
      } else {
        const uint32_t pos = uint32_t(g.Int(0, int(boxes.size()) - 1));
        boxes.erase(boxes.begin() + pos);
        ix.Erase(pos);
      }
      CheckIndex(g, ix, boxes, 20, fmt::format("seed {} step {}", seed, step));
      if (::testing::Test::HasFatalFailure()) return;
    }
    // A copy made for an update leaves the original as it was.
    ChainIndex copy = ix;
    copy.InsertBox(0, RandomBox(g));
    CheckIndex(g, ix, boxes, 50, fmt::format("seed {} original", seed));
  }
}

// TableEdit runtimes (one rule inserted or erased) behave like runtimes
// built from scratch.
TEST(ClassifierIndex, TableEditMatchesFreshBuild) {
  for (uint32_t seed = 1; seed <= 8; ++seed) {
    Gen g(seed * 7919);
    std::vector<std::string> lines;
    for (int i = 0; i < 80; ++i)
      lines.push_back(RandomRule(g, "FORWARD", 1, false, i));
    auto text = [&] {
      std::string s =
          "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n"
          ":OUTPUT ACCEPT [0:0]\n:U1 - [0:0]\n:U2 - [0:0]\n"
          ":U3 - [0:0]\n-A U1 -p tcp -j ACCEPT\n-A U2 -j RETURN\n";
      for (const auto& l : lines) s += l + "\n";
      return s + "COMMIT\n";
    };
    RuntimeOptions ro;
    ro.classifier.min_rules = 1;
    auto prev = std::make_unique<TableRuntime>(
        std::move(Load(text(), Family::kIPv4)->tables[0]), ro);
    for (int step = 0; step < 30; ++step) {
      TableEdit e;
      const int chain = prev->table().ChainIndex("FORWARD");
      e.chain = chain;
      if (lines.empty() || g.Coin(0.6)) {
        e.kind = TableEdit::Kind::kInsert;
        e.rule = g.Int(0, int(lines.size()));
        lines.insert(lines.begin() + e.rule,
                     RandomRule(g, "FORWARD", 1, false, 1000 + step));
      } else {
        e.kind = TableEdit::Kind::kErase;
        e.rule = g.Int(0, int(lines.size()) - 1);
        lines.erase(lines.begin() + e.rule);
      }
      auto next = std::make_unique<TableRuntime>(
          std::move(Load(text(), Family::kIPv4)->tables[0]), *prev, e);
      ASSERT_TRUE(next->compiled());
      Pair pr;
      RuntimeOptions lo;
      lo.compiled = false;
      pr.lin = std::make_unique<TableRuntime>(
          std::move(Load(text(), Family::kIPv4)->tables[0]), lo);
      pr.cmp = std::move(next);
      const Interface eth0 = MakeIf("eth0"), ppp0 = MakeIf("ppp0");
      for (int i = 0; i < 60; ++i) {
        Compare(pr, Hook::kForward, RandomV4(g), &eth0,
                g.Coin(0.5) ? &eth0 : &ppp0, i * 0.01,
                fmt::format("seed {} step {}\n{}", seed, step, text()));
        if (::testing::Test::HasFatalFailure()) return;
      }
      prev = std::move(pr.cmp);
    }
  }
}

// ---- The corpus --------------------------------------------------------

struct CorpusFile {
  std::string tool, file;
};

std::vector<CorpusFile> LoadingCorpus() {
  std::vector<CorpusFile> out;
  std::ifstream in(SharedDir() + "/corpus/loadtest.tsv");
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    std::stringstream ss(line);
    std::string col;
    while (std::getline(ss, col, '\t')) f.push_back(col);
    if (f.size() >= 4 && f[0] == "0") out.push_back({f[2], f[3]});
  }
  return out;
}

// Addresses a ruleset mentions, so corpus packets hit its rules.
std::vector<std::pair<uint32_t, uint32_t>> V4Ranges(const Table& t) {
  std::vector<std::pair<uint32_t, uint32_t>> out;
  ChainIndex ix(Family::kIPv4, 0);
  for (const Chain& c : t.chains)
    for (const Rule& r : c.rules) {
      const RuleBox b = ix.BoxFor(r);
      out.push_back({b.lo[kFieldSrc], b.hi[kFieldSrc]});
      out.push_back({b.lo[kFieldDst], b.hi[kFieldDst]});
    }
  return out;
}

TEST(ClassifierCorpus, EveryLoadingRulesetWalksAlike) {
  const auto files = LoadingCorpus();
  ASSERT_GT(files.size(), 100u);
  // Some targets need a host (TCPMSS's path MTU): any realistic one does.
  auto host = io::LoadHostFile(SharedDir() +
                               "/scenarios/realistic/dsl_router/host.json");
  g_host = host.get();
  struct Reset {
    ~Reset() { g_host = nullptr; }
  } reset;
  ClassifierOptions co;
  co.min_rules = 1;
  co.leaf_size = 2;
  size_t walks = 0, indexed = 0;
  static const std::vector<Interface> kIfs = {
      MakeIf("eth0"),    MakeIf("eth1"),  MakeIf("lo"),   MakeIf("docker0"),
      MakeIf("br-1234"), MakeIf("wlan0"), MakeIf("ppp0"), MakeIf("tun0")};
  for (size_t fi = 0; fi < files.size(); ++fi) {
    const CorpusFile& cf = files[fi];
    const bool v6 = cf.tool.rfind("ip6", 0) == 0;
    const std::string text =
        io::ReadFile(SharedDir() + "/corpus/rulesets/" + cf.file);
    std::vector<std::unique_ptr<Pair>> pairs;
    try {
      pairs = MakePairs(text, v6 ? Family::kIPv6 : Family::kIPv4, co);
    } catch (const std::exception& e) {
      continue;  // the corpus test reports loads; here only walks matter
    }
    Gen g(uint32_t(fi + 1));
    for (auto& pp : pairs) {
      Pair& pr = *pp;
      const Table& t = pr.lin->table();
      // NAT targets need the packet's connection, which only the engine's
      // conntrack gives (the scenario test covers nat tables).
      if (t.name == "nat") continue;
      const auto ranges =
          v6 ? std::vector<std::pair<uint32_t, uint32_t>>{} : V4Ranges(t);
      for (const Chain& c : t.chains) {
        if (!c.builtin) continue;
        for (int i = 0; i < 60; ++i) {
          Packet p = v6 ? RandomV6(g) : RandomV4(g);
          if (!ranges.empty() && g.Coin(0.7)) {
            for (int side = 0; side < 2; ++side) {
              const auto& rg = ranges[size_t(g.Int(0, int(ranges.size()) - 1))];
              Store32(
                  p.data.data() + 12 + 4 * side,
                  rg.first +
                      uint32_t(g.rng() % (uint64_t(rg.second - rg.first) + 1)));
            }
          }
          const bool no_in =
              c.hook == Hook::kOutput || c.hook == Hook::kPostrouting;
          const bool no_out =
              c.hook == Hook::kPrerouting || c.hook == Hook::kInput;
          const Interface* in =
              no_in ? nullptr : &kIfs[size_t(g.Int(0, int(kIfs.size()) - 1))];
          const Interface* out =
              no_out ? nullptr : &kIfs[size_t(g.Int(0, int(kIfs.size()) - 1))];
          Compare(pr, c.hook, p, in, out, i * 0.5,
                  cf.file + " " + t.name + "/" + c.name + " packet " +
                      std::to_string(i));
          if (::testing::Test::HasFatalFailure()) return;
        }
      }
      CompareCounters(pr, cf.file + " " + t.name);
      walks += pr.packets;
      indexed += pr.indexed_walks;
    }
  }
  EXPECT_GT(indexed, walks / 4) << "the index should be used for most walks";
}

// ---- The realistic scenarios through the whole stack --------------------

// Simulated hosts (conntrack, NAT, every table at every hook) print the same
// results, counters and connection tables with either engine.
TEST(ClassifierScenarios, RealisticScenariosSimulateAlike) {
  namespace fs = std::filesystem;
  const std::string root = SharedDir() + "/scenarios/realistic";
  size_t scenarios = 0;
  for (const auto& entry : fs::directory_iterator(root)) {
    const std::string dir = entry.path().string() + "/";
    if (!fs::exists(dir + "packets.jsonl")) continue;
    std::string out[2], counters[2], conns[2];
    for (int compiled = 0; compiled < 2; ++compiled) {
      auto host = io::LoadHostFile(dir + "host.json");
      StackOptions so;
      so.tables.compiled = compiled == 1;
      so.tables.classifier.min_rules = 1;
      so.tables.classifier.leaf_size = 2;
      NetStack stack(*host, so);
      if (fs::exists(dir + "rules.v4"))
        stack.SetRules(Family::kIPv4,
                       Load(io::ReadFile(dir + "rules.v4"), Family::kIPv4));
      if (fs::exists(dir + "rules.v6"))
        stack.SetRules(Family::kIPv6,
                       Load(io::ReadFile(dir + "rules.v6"), Family::kIPv6));
      auto packets = io::ReadPackets(
          dir + "packets.jsonl", io::ReadFile(dir + "packets.jsonl"), *host);
      int n = 0;
      for (io::InputPacket& ip : packets) {
        Outcome o = ip.local ? stack.Send(std::move(ip.pkt))
                             : stack.Receive(std::move(ip.pkt), ip.iface);
        out[compiled] += io::FormatOutcome(++n, o) + "\n";
      }
      counters[compiled] = stack.SaveWithCounters(Family::kIPv4) +
                           stack.SaveWithCounters(Family::kIPv6);
      for (const std::string& l : stack.ListConntrack())
        conns[compiled] += l + "\n";
    }
    EXPECT_EQ(out[0], out[1]) << dir;
    EXPECT_EQ(counters[0], counters[1]) << dir;
    EXPECT_EQ(conns[0], conns[1]) << dir;
    ++scenarios;
  }
  EXPECT_GE(scenarios, 10u);
}

// ---- ClassBench --------------------------------------------------------

TEST(ClassifierClassBench, EverySetAgreesWithLinear) {
  for (const char* seed : {"acl1", "fw1", "ipc1"}) {
    for (int size : {1000, 10000, 100000}) {
      const std::string name = fmt::format("{}_{}", seed, size);
      const std::string dir = SharedDir() + "/classbench/";
      auto filters =
          io::ParseClassBench(io::ReadFile(dir + name + ".rules"), name);
      ASSERT_GT(filters.size(), size_t(size) * 7 / 10) << name;
      io::ClassBenchRuleset cb = io::ClassBenchToRestore(filters);
      auto pairs = MakePairs(cb.restore, Family::kIPv4, ClassifierOptions{});
      ASSERT_EQ(pairs.size(), 1u);
      Pair& pr = *pairs[0];
      const Table& t = pr.lin->table();
      const Chain& fwd = t.chains[t.ChainIndex("FORWARD")];
      std::vector<io::TraceHeader> hs;
      if (std::ifstream(dir + name + ".trace.gz"))
        hs = io::ReadTrace(dir + name + ".trace.gz");
      else
        hs = io::DrawHeaders(t, fwd, 1000, 7);
      ASSERT_FALSE(hs.empty()) << name;
      // Linear walks of large sets are slow: a sample keeps CI short.
      const size_t want = size >= 100000 ? 150 : size >= 10000 ? 500 : 2000;
      const size_t step = std::max<size_t>(1, hs.size() / want);
      const Interface eth0 = MakeIf("eth0"), eth1 = MakeIf("eth1");
      for (size_t i = 0; i < hs.size(); i += step) {
        Compare(pr, Hook::kForward, io::MakePacket(hs[i]), &eth0, &eth1, 0,
                name + " header " + std::to_string(i));
        if (::testing::Test::HasFatalFailure()) return;
      }
      CompareCounters(pr, name);
      EXPECT_EQ(pr.indexed_walks, pr.packets) << name;
    }
  }
}

// ClassBench conversion: port ranges under a wildcard protocol become a tcp
// and a udp rule; both map back to the filter's line.
TEST(ClassifierClassBench, WildcardProtocolWithPortsExpands) {
  auto f = io::ParseClassBench(
      "@10.0.0.0/8\t0.0.0.0/0\t0 : 65535\t80 : 80\t0x00/0x00\t0x0000/0x0000\n"
      "@0.0.0.0/0\t1.2.3.4/32\t0 : 65535\t0 : "
      "65535\t0x06/0xFF\t0x0000/0x0000\n",
      "x");
  ASSERT_EQ(f.size(), 2u);
  io::ClassBenchRuleset rs = io::ClassBenchToRestore(f);
  EXPECT_EQ(rs.origin, (std::vector<uint32_t>{1, 1, 2}));
  EXPECT_NE(
      rs.restore.find("-s 10.0.0.0/8 -d 0.0.0.0/0 -p tcp -m tcp --dport 80"),
      std::string::npos);
  EXPECT_NE(rs.restore.find("-p udp -m udp --dport 80"), std::string::npos);
  EXPECT_NO_THROW(Load(rs.restore, Family::kIPv4));
  EXPECT_THROW(io::ParseClassBench("@1.2.3.4/33 x\n", "bad"), io::InputError);
}

// The burst API gives the decisions, counters and side effects of one Run
// per packet in order.
TEST(ClassifierBurst, RunBurstEqualsRunInOrder) {
  for (uint32_t seed = 400; seed <= 406; ++seed) {
    Gen g(seed);
    const std::string text = RandomRuleset(g, 200, false);
    auto a = MakePairs(text, Family::kIPv4, ClassifierOptions{});
    auto b = MakePairs(text, Family::kIPv4, ClassifierOptions{});
    Pair& one = *a[0];
    Pair& burst = *b[0];
    const Interface eth0 = MakeIf("eth0"), eth1 = MakeIf("eth1");
    HookState st;
    st.hook = Hook::kForward;
    st.in = &eth0;
    st.out = &eth1;
    std::vector<Packet> p1, p2;
    for (int i = 0; i < 200; ++i) p1.push_back(RandomV4(g));
    p2 = p1;
    std::vector<XtParams> x1(p1.size()), x2(p2.size());
    std::vector<XtParams*> ptrs;
    std::vector<PktInfo> infos;
    for (size_t i = 0; i < p1.size(); ++i) {
      x1[i].skb = &p1[i];
      x1[i].state = &st;
      x1[i].svc = &one.rc;
      x2[i].skb = &p2[i];
      x2[i].state = &st;
      x2[i].svc = &burst.rc;
      ptrs.push_back(&x2[i]);
      infos.push_back(ComputePktInfo(p1[i]));
    }
    std::vector<Decision> d1, d2(p2.size());
    for (size_t i = 0; i < p1.size(); ++i)
      d1.push_back(one.cmp->Run(Hook::kForward, x1[i], infos[i], &one.rc));
    for (size_t i = 0; i < p2.size(); i += 37)
      burst.cmp->RunBurst(Hook::kForward, &ptrs[i], &infos[i],
                          std::min<size_t>(37, p2.size() - i), &d2[i],
                          &burst.rc);
    for (size_t i = 0; i < p1.size(); ++i) {
      ASSERT_EQ(int(d1[i].verdict), int(d2[i].verdict)) << seed << " " << i;
      ASSERT_EQ(d1[i].chain, d2[i].chain) << seed << " " << i;
      ASSERT_EQ(d1[i].rule, d2[i].rule) << seed << " " << i;
      ASSERT_EQ(p1[i].data, p2[i].data) << seed << " " << i;
      ASSERT_EQ(p1[i].mark, p2[i].mark) << seed << " " << i;
    }
    EXPECT_EQ(one.rc.events, burst.rc.events) << seed;
    // Counters: compare the two compiled runtimes through a linear pair.
    one.lin = std::move(burst.cmp);
    CompareCounters(one, fmt::format("burst seed {}", seed));
  }
}

// Counters added by several threads (each in its own shard) all arrive.
TEST(ClassifierCounters, ThreadsShareTheCounts) {
  Gen g(9);
  // Without stateful matches: the threads interleave at random.
  std::string text;
  std::stringstream in(RandomRuleset(g, 100, false));
  for (std::string line; std::getline(in, line);)
    if (line.find("statistic") == std::string::npos &&
        line.find("limit") == std::string::npos)
      text += line + "\n";
  auto pairs = MakePairs(text, Family::kIPv4, ClassifierOptions{});
  Pair& pr = *pairs[0];
  const Interface eth0 = MakeIf("eth0"), eth1 = MakeIf("eth1");
  std::vector<Packet> pkts;
  for (int i = 0; i < 300; ++i) pkts.push_back(RandomV4(g));
  auto run = [&](const TableRuntime& rt, int times) {
    HookState st;
    st.hook = Hook::kForward;
    st.in = &eth0;
    st.out = &eth1;
    for (int r = 0; r < times; ++r)
      for (const Packet& p0 : pkts) {
        Packet p = p0;
        XtParams x;
        x.skb = &p;
        x.state = &st;
        rt.Run(Hook::kForward, x, ComputePktInfo(p), nullptr);
      }
  };
  run(*pr.lin, 4);
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t) ts.emplace_back([&] { run(*pr.cmp, 1); });
  for (auto& t : ts) t.join();
  CompareCounters(pr, "threads");
}

}  // namespace
}  // namespace netfence
