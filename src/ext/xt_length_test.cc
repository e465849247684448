// Packet logic of the length match.
#include <gtest/gtest.h>

#include "core/restore.h"
#include "ext/match_test_util.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

using namespace netfence::ext::match_test;

TEST(LengthMatch, Ipv4UsesTotalLength) {
  auto r = Load(Family::kIPv4, "-m length --length 40:60");
  auto inv = Load(Family::kIPv4, "-m length ! --length 40:60");
  Packet p = V4(20);
  Store16(&p.data[2], 50);
  EXPECT_TRUE(Eval(*r.m, p));
  EXPECT_FALSE(Eval(*inv.m, p));
  Store16(&p.data[2], 61);
  EXPECT_FALSE(Eval(*r.m, p));
  EXPECT_TRUE(Eval(*inv.m, p));
}

TEST(LengthMatch, Ipv6UsesBufferLength) {
  auto r = Load(Family::kIPv6, "-m length --length 48");
  Packet p = V6(48);
  Store16(&p.data[4], 0);  // a jumbogram's payload length field
  EXPECT_TRUE(Eval(*r.m, p));
  p.data.resize(49);
  EXPECT_FALSE(Eval(*r.m, p));
}

}  // namespace
}  // namespace netfence::ext
