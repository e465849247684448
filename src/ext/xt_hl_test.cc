// Packet logic of the hl match.
#include <gtest/gtest.h>

#include "core/restore.h"
#include "ext/match_test_util.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

using namespace netfence::ext::match_test;

TEST(HlMatch, Modes) {
  auto eq = Load(Family::kIPv6, "-m hl --hl-eq 255");
  auto ne = Load(Family::kIPv6, "-m hl ! --hl-eq 255");
  auto lt = Load(Family::kIPv6, "-m hl --hl-lt 2");
  Packet p = V6();
  p.data[7] = 255;
  EXPECT_TRUE(Eval(*eq.m, p));
  EXPECT_FALSE(Eval(*ne.m, p));
  EXPECT_FALSE(Eval(*lt.m, p));
  p.data[7] = 1;
  EXPECT_TRUE(Eval(*lt.m, p));
  EXPECT_TRUE(Eval(*ne.m, p));
  EXPECT_TRUE(Refused(Family::kIPv6, "-m hl --hl-lt 3 --hl-gt 1"));
}

}  // namespace
}  // namespace netfence::ext
