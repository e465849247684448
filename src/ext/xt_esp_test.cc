// Packet logic of the esp match.
#include <gtest/gtest.h>

#include "core/restore.h"
#include "ext/match_test_util.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

using namespace netfence::ext::match_test;

Packet EspPacket(uint32_t spi) {
  Packet p = V4(28, 50);
  Store32(&p.data[20], spi);
  return p;
}

TEST(EspMatch, SpiRangeAndInversion) {
  auto r = Load(Family::kIPv4, "-p esp -m esp --espspi 100:200");
  auto inv = Load(Family::kIPv4, "-p esp -m esp ! --espspi 100");
  Packet a = EspPacket(150), b = EspPacket(201), c = EspPacket(100);
  EXPECT_TRUE(Eval(*r.m, a, 20));
  EXPECT_FALSE(Eval(*r.m, b, 20));
  EXPECT_FALSE(Eval(*inv.m, c, 20));
  EXPECT_TRUE(Eval(*inv.m, a, 20));
  EXPECT_FALSE(Eval(*r.m, a, 20, nullptr, 8));  // a later fragment
}

TEST(EspMatch, TruncatedHotdrops) {
  auto r = Load(Family::kIPv4, "-p esp -m esp --espspi 1");
  Packet a = EspPacket(1);
  a.data.resize(27);
  bool hd = false;
  EXPECT_FALSE(Eval(*r.m, a, 20, &hd));
  EXPECT_TRUE(hd);
  EXPECT_TRUE(Refused(Family::kIPv4, "-m esp --espspi 1"));
}

}  // namespace
}  // namespace netfence::ext
