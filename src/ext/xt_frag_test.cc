// Packet logic of the frag match.
#include <gtest/gtest.h>

#include "core/restore.h"
#include "ext/match_test_util.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

using namespace netfence::ext::match_test;

// FragPacket is IPv6 + a fragment header.
Packet FragPacket(uint32_t id, uint16_t offset8, bool more,
                  uint8_t reserved = 0) {
  Packet p = V6(40 + 8 + 8, 44);
  p.data[40] = 17;
  p.data[41] = reserved;
  Store16(&p.data[42], uint16_t(offset8 << 3 | (more ? 1 : 0)));
  Store32(&p.data[44], id);
  return p;
}

TEST(FragMatch, IdAndFlags) {
  auto first = Load(Family::kIPv6, "-m frag --fragid 10:20 --fragfirst");
  auto more = Load(Family::kIPv6, "-m frag --fragmore");
  auto last = Load(Family::kIPv6, "-m frag --fraglast");
  auto res = Load(Family::kIPv6, "-m frag --fragres");
  Packet a = FragPacket(15, 0, true), b = FragPacket(15, 0, false);
  EXPECT_TRUE(Eval(*first.m, a));
  EXPECT_TRUE(Eval(*more.m, a));
  EXPECT_FALSE(Eval(*last.m, a));
  EXPECT_TRUE(Eval(*last.m, b));
  EXPECT_TRUE(Eval(*res.m, a));
  Packet r = FragPacket(15, 0, true, 1);
  EXPECT_FALSE(Eval(*res.m, r));
  // The Fragment header of a later fragment is still found.
  Packet later = FragPacket(15, 100, false);
  EXPECT_FALSE(Eval(*first.m, later));
  EXPECT_TRUE(Eval(*last.m, later));
}

TEST(FragMatch, InvertedIdAndIgnoredLength) {
  auto r = Load(Family::kIPv6, "-m frag ! --fragid 15 --fraglen 999");
  Packet a = FragPacket(15, 0, true), b = FragPacket(16, 0, true);
  EXPECT_FALSE(Eval(*r.m, a));
  EXPECT_TRUE(Eval(*r.m, b));
}

TEST(FragMatch, MissingOrTruncated) {
  auto r = Load(Family::kIPv6, "-m frag --fragmore");
  Packet none = V6(48, 17);
  bool hd = true;
  EXPECT_FALSE(Eval(*r.m, none, 0, &hd));
  EXPECT_FALSE(hd);
  Packet cut = FragPacket(1, 0, true);
  cut.data.resize(46);
  EXPECT_FALSE(Eval(*r.m, cut, 0, &hd));
  EXPECT_TRUE(hd);
  EXPECT_TRUE(Refused(Family::kIPv6, "-m frag --fragmore --fraglast"));
}

}  // namespace
}  // namespace netfence::ext
