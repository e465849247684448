// Packet logic of the iprange match.
#include <gtest/gtest.h>

#include "core/restore.h"
#include "ext/match_test_util.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

using namespace netfence::ext::match_test;

TEST(IprangeMatch, SourceRangeV4) {
  auto r = Load(Family::kIPv4, "-m iprange --src-range 10.0.0.5-10.0.1.4");
  auto inv = Load(Family::kIPv4, "-m iprange ! --src-range 10.0.0.5-10.0.1.4");
  Packet p = V4();
  p.data[12] = 10;
  p.data[14] = 0;
  p.data[15] = 200;
  EXPECT_TRUE(Eval(*r.m, p));
  EXPECT_FALSE(Eval(*inv.m, p));
  p.data[15] = 4;
  EXPECT_FALSE(Eval(*r.m, p));
  EXPECT_TRUE(Eval(*inv.m, p));
  p.data[14] = 1;
  EXPECT_TRUE(Eval(*r.m, p));
  p.data[15] = 5;
  EXPECT_FALSE(Eval(*r.m, p));
}

TEST(IprangeMatch, BothRangesV6) {
  auto r = Load(Family::kIPv6,
                "-m iprange --src-range 2001:db8::1-2001:db8::10 "
                "--dst-range ::1");
  Packet p = V6();
  p.data[8] = 0x20;
  p.data[9] = 0x01;
  p.data[10] = 0x0d;
  p.data[11] = 0xb8;
  p.data[23] = 0x10;
  p.data[39] = 1;
  EXPECT_TRUE(Eval(*r.m, p));
  p.data[39] = 2;
  EXPECT_FALSE(Eval(*r.m, p));
  p.data[39] = 1;
  p.data[22] = 1;
  EXPECT_FALSE(Eval(*r.m, p));
}

TEST(IprangeMatch, NeedsAnOption) {
  EXPECT_TRUE(Refused(Family::kIPv4, "-m iprange"));
  EXPECT_TRUE(Refused(Family::kIPv4, "-m iprange --src-range 1.2.3.4-x"));
}

}  // namespace
}  // namespace netfence::ext
