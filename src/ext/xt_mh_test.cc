// Packet logic of the mh match.
#include <gtest/gtest.h>

#include "core/restore.h"
#include "ext/match_test_util.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

using namespace netfence::ext::match_test;

Packet MhPacket(uint8_t type, uint8_t payload_proto = 59) {
  Packet p = V6(48, 135);
  p.data[40] = payload_proto;
  p.data[42] = type;
  return p;
}

TEST(MhMatch, TypesAndInversion) {
  auto r = Load(Family::kIPv6, "-p mh -m mh --mh-type bu:ba");
  auto inv = Load(Family::kIPv6, "-p mh -m mh ! --mh-type home-test");
  Packet bu = MhPacket(5), be = MhPacket(7), hot = MhPacket(3);
  EXPECT_TRUE(Eval(*r.m, bu, 40));
  EXPECT_FALSE(Eval(*r.m, be, 40));
  EXPECT_FALSE(Eval(*inv.m, hot, 40));
  EXPECT_TRUE(Eval(*inv.m, bu, 40));
  EXPECT_FALSE(Eval(*r.m, bu, 40, nullptr, 8));
}

TEST(MhMatch, BadPayloadOrTruncationHotdrops) {
  auto r = Load(Family::kIPv6, "-p mh -m mh --mh-type 5");
  Packet bad = MhPacket(5, 6);
  bool hd = false;
  EXPECT_FALSE(Eval(*r.m, bad, 40, &hd));
  EXPECT_TRUE(hd);
  Packet cut = MhPacket(5);
  cut.data.resize(45);
  hd = false;
  EXPECT_FALSE(Eval(*r.m, cut, 40, &hd));
  EXPECT_TRUE(hd);
  EXPECT_TRUE(Refused(Family::kIPv6, "-p mh -m mh --mh-type 4:3"));
  EXPECT_TRUE(Refused(Family::kIPv6, "-m mh --mh-type 4"));
}

}  // namespace
}  // namespace netfence::ext
