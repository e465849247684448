// Packet logic of the dscp match.
#include <gtest/gtest.h>

#include "core/restore.h"
#include "ext/match_test_util.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

using namespace netfence::ext::match_test;

TEST(DscpMatch, Ipv4AndClass) {
  auto ef = Load(Family::kIPv4, "-m dscp --dscp-class EF");
  auto inv = Load(Family::kIPv4, "-m dscp ! --dscp 0x2e");
  Packet p = V4();
  p.data[1] = 0x2e << 2 | 1;  // the ECN bits do not count
  EXPECT_TRUE(Eval(*ef.m, p));
  EXPECT_FALSE(Eval(*inv.m, p));
  p.data[1] = 0;
  EXPECT_FALSE(Eval(*ef.m, p));
  EXPECT_TRUE(Eval(*inv.m, p));
}

TEST(DscpMatch, Ipv6) {
  auto r = Load(Family::kIPv6, "-m dscp --dscp 0x0a");
  Packet p = V6();
  p.data[0] = 0x62;  // traffic class 0x28 = DSCP 0x0a
  p.data[1] = 0x80;
  EXPECT_TRUE(Eval(*r.m, p));
  EXPECT_TRUE(Refused(Family::kIPv6, "-m dscp --dscp 64"));
}

}  // namespace
}  // namespace netfence::ext
