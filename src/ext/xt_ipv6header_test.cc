// Packet logic of the ipv6header match.
#include <gtest/gtest.h>

#include "core/restore.h"
#include "ext/match_test_util.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

using namespace netfence::ext::match_test;

// HopThenUdp is IPv6 + Hop-by-Hop (8 bytes) + UDP.
Packet HopThenUdp() {
  Packet p = V6(56, 0);
  p.data[40] = 17;
  return p;
}

TEST(Ipv6headerMatch, HardMode) {
  auto exact = Load(Family::kIPv6, "-m ipv6header --header hop,prot");
  auto hop = Load(Family::kIPv6, "-m ipv6header --header hop");
  auto inv = Load(Family::kIPv6, "-m ipv6header ! --header hop");
  Packet p = HopThenUdp();
  EXPECT_TRUE(Eval(*exact.m, p));
  EXPECT_FALSE(Eval(*hop.m, p));
  EXPECT_TRUE(Eval(*inv.m, p));
}

TEST(Ipv6headerMatch, SoftModeAndNone) {
  auto soft = Load(Family::kIPv6, "-m ipv6header --header hop --soft");
  auto soft_inv = Load(Family::kIPv6, "-m ipv6header ! --header frag --soft");
  auto none = Load(Family::kIPv6, "-m ipv6header --header none");
  Packet p = HopThenUdp();
  EXPECT_TRUE(Eval(*soft.m, p));
  EXPECT_TRUE(Eval(*soft_inv.m, p));
  Packet empty = V6(40, 59);
  EXPECT_TRUE(Eval(*none.m, empty));
  EXPECT_FALSE(Eval(*soft.m, empty));
}

TEST(Ipv6headerMatch, ShortHeaderNeverMatches) {
  auto inv = Load(Family::kIPv6, "-m ipv6header ! --header hop");
  Packet p = V6(41, 0);
  EXPECT_FALSE(Eval(*inv.m, p));
  EXPECT_TRUE(Refused(Family::kIPv6, "-m ipv6header --header tcp"));
}

TEST(Ipv6headerMatch, SavesProtocolNames) {
  auto r = Load(Family::kIPv6, "-m ipv6header --header 60,auth,route");
  EXPECT_NE(Save(*r.rs, false).find("--header ipv6-opts,ipv6-route,ah"),
            std::string::npos);
}

}  // namespace
}  // namespace netfence::ext
