// Packet logic of the ttl match.
#include <gtest/gtest.h>

#include "core/restore.h"
#include "ext/match_test_util.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

using namespace netfence::ext::match_test;

TEST(TtlMatch, Modes) {
  auto eq = Load(Family::kIPv4, "-m ttl --ttl-eq 64");
  auto ne = Load(Family::kIPv4, "-m ttl ! --ttl 64");
  auto lt = Load(Family::kIPv4, "-m ttl --ttl-lt 10");
  auto gt = Load(Family::kIPv4, "-m ttl --ttl-gt 10");
  Packet p = V4();
  p.data[8] = 64;
  EXPECT_TRUE(Eval(*eq.m, p));
  EXPECT_FALSE(Eval(*ne.m, p));
  EXPECT_FALSE(Eval(*lt.m, p));
  EXPECT_TRUE(Eval(*gt.m, p));
  p.data[8] = 10;
  EXPECT_FALSE(Eval(*lt.m, p));
  EXPECT_FALSE(Eval(*gt.m, p));
  EXPECT_TRUE(Eval(*ne.m, p));
}

}  // namespace
}  // namespace netfence::ext
