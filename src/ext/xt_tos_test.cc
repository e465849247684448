// Packet logic of the tos match.
#include <gtest/gtest.h>

#include "core/restore.h"
#include "ext/match_test_util.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

using namespace netfence::ext::match_test;

TEST(TosMatch, ValueUnderMask) {
  auto sym = Load(Family::kIPv4, "-m tos --tos Minimize-Delay");
  auto exact = Load(Family::kIPv4, "-m tos ! --tos 0x10");
  Packet p = V4();
  p.data[1] = 0x10 | 0xc0;  // precedence bits are outside the 0x3f mask
  EXPECT_TRUE(Eval(*sym.m, p));
  EXPECT_TRUE(Eval(*exact.m, p));
  p.data[1] = 0x10;
  EXPECT_FALSE(Eval(*exact.m, p));
}

TEST(TosMatch, Ipv6TrafficClass) {
  auto r = Load(Family::kIPv6, "-m tos --tos 0xb8/0xfc");
  Packet p = V6();
  p.data[0] = 0x6b;  // traffic class 0xb8 spans the first two bytes
  p.data[1] = 0x80;
  EXPECT_TRUE(Eval(*r.m, p));
  p.data[1] = 0x00;
  EXPECT_FALSE(Eval(*r.m, p));
}

}  // namespace
}  // namespace netfence::ext
