// Packet logic of the mark match.
#include <gtest/gtest.h>

#include "core/restore.h"
#include "ext/match_test_util.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

using namespace netfence::ext::match_test;

TEST(MarkMatch, ValueUnderMask) {
  auto r = Load(Family::kIPv4, "-m mark --mark 0x10/0xf0");
  Packet p = V4();
  p.mark = 0x1f;
  EXPECT_TRUE(Eval(*r.m, p));
  p.mark = 0x2f;
  EXPECT_FALSE(Eval(*r.m, p));
}

TEST(MarkMatch, ExactAndInverted) {
  auto r = Load(Family::kIPv6, "-m mark ! --mark 7");
  Packet p = V6();
  p.mark = 7;
  EXPECT_FALSE(Eval(*r.m, p));
  p.mark = 0x107;
  EXPECT_TRUE(Eval(*r.m, p));
}

}  // namespace
}  // namespace netfence::ext
