// Packet logic of the tcpmss match.
#include <gtest/gtest.h>

#include "core/restore.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

// Rule1 holds a one-rule ruleset and the rule's last match.
struct Rule1 {
  std::unique_ptr<Ruleset> rs;
  const Match* m = nullptr;
};

[[maybe_unused]] Rule1 Load(Family f, const std::string& rule,
                            const std::string& chain = "INPUT") {
  static const BuiltinResolver kResolver;
  RestoreOptions o{f, &kResolver, "test"};
  Rule1 r;
  r.rs = Restore("*filter\n-A " + chain + " " + rule + "\nCOMMIT\n", o);
  r.m = r.rs->FindTable("filter")
            ->FindChain(chain)
            ->rules[0]
            .matches.back()
            .match.get();
  return r;
}

// Refused reports whether a rule fails to load.
[[maybe_unused]] bool Refused(Family f, const std::string& rule) {
  try {
    Load(f, rule);
  } catch (const RestoreError&) {
    return true;
  }
  return false;
}

// V4 and V6 are bare headers (version, addresses zero) of len bytes.
[[maybe_unused]] Packet V4(size_t len = 20, uint8_t proto = 0) {
  Packet p;
  p.family = Family::kIPv4;
  p.data.assign(len, 0);
  p.data[0] = 0x45;
  p.data[9] = proto;
  return p;
}
[[maybe_unused]] Packet V6(size_t len = 40, uint8_t nexthdr = 59) {
  Packet p;
  p.family = Family::kIPv6;
  p.data.assign(len, 0);
  p.data[0] = 0x60;
  p.data[6] = nexthdr;
  return p;
}

// Eval runs the match on a packet; thoff and fragoff as the engine sets.
[[maybe_unused]] bool Eval(const Match& m, Packet& pkt, unsigned thoff = 0,
                           bool* hotdrop = nullptr, int fragoff = 0,
                           uint8_t l4proto = 0,
                           const HookState* state = nullptr) {
  XtParams p;
  p.skb = &pkt;
  p.state = state;
  p.thoff = thoff;
  p.fragoff = fragoff;
  p.l4proto = l4proto;
  bool r = m.Matches(p);
  if (hotdrop) *hotdrop = p.hotdrop;
  return r;
}

// SynWithOptions is IPv4 + TCP with the given options (padded to 4).
Packet SynWithOptions(std::vector<uint8_t> opts) {
  while (opts.size() % 4) opts.push_back(0);
  Packet p = V4(40, 6);
  p.data[32] = uint8_t((20 + opts.size()) / 4 << 4);
  p.data[33] = 0x02;
  p.data.insert(p.data.end(), opts.begin(), opts.end());
  return p;
}

TEST(TcpmssMatch, FindsMssAfterOtherOptions) {
  auto r = Load(Family::kIPv4, "-p tcp -m tcpmss --mss 1000:1460");
  auto inv = Load(Family::kIPv4, "-p tcp -m tcpmss ! --mss 1000:1460");
  Packet p = SynWithOptions({1, 1, 4, 2, 2, 4, 0x05, 0xb4});  // MSS 1460
  EXPECT_TRUE(Eval(*r.m, p, 20));
  EXPECT_FALSE(Eval(*inv.m, p, 20));
  Packet big = SynWithOptions({2, 4, 0x20, 0x00});  // MSS 8192
  EXPECT_FALSE(Eval(*r.m, big, 20));
}

TEST(TcpmssMatch, NoMssOption) {
  auto r = Load(Family::kIPv4, "-p tcp -m tcpmss --mss 1460");
  auto inv = Load(Family::kIPv4, "-p tcp -m tcpmss ! --mss 1460");
  Packet p = SynWithOptions({});
  EXPECT_FALSE(Eval(*r.m, p, 20));
  EXPECT_TRUE(Eval(*inv.m, p, 20));
}

TEST(TcpmssMatch, MalformedOrTruncatedHotdrops) {
  auto r = Load(Family::kIPv4, "-p tcp -m tcpmss --mss 1460");
  Packet p = SynWithOptions({2, 4, 0x05, 0xb4});
  p.data[32] = 0x40;  // data offset 16 bytes
  bool hd = false;
  EXPECT_FALSE(Eval(*r.m, p, 20, &hd));
  EXPECT_TRUE(hd);
  Packet q = SynWithOptions({2, 4, 0x05, 0xb4});
  q.data.resize(42);
  hd = false;
  EXPECT_FALSE(Eval(*r.m, q, 20, &hd));
  EXPECT_TRUE(hd);
}

}  // namespace
}  // namespace netfence::ext
