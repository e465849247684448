// Packet logic of the rt match.
#include <gtest/gtest.h>

#include "core/restore.h"
#include "ext/match_test_util.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

using namespace netfence::ext::match_test;

// RtPacket is IPv6 + a routing header of type `type` listing `naddr`
// addresses ::1, ::2, ...
Packet RtPacket(uint8_t type, uint8_t segs, unsigned naddr,
                uint32_t reserved = 0) {
  Packet p = V6(40 + 8 + 16 * naddr, 43);
  uint8_t* rh = &p.data[40];
  rh[0] = 59;
  rh[1] = uint8_t(naddr * 2);
  rh[2] = type;
  rh[3] = segs;
  Store32(rh + 4, reserved);
  for (unsigned i = 0; i < naddr; ++i) rh[8 + 16 * i + 15] = uint8_t(i + 1);
  return p;
}

TEST(RtMatch, TypeSegsLen) {
  auto r =
      Load(Family::kIPv6, "-m rt --rt-type 2 --rt-segsleft 1:3 --rt-len 24");
  Packet a = RtPacket(2, 1, 1), b = RtPacket(0, 1, 1), c = RtPacket(2, 4, 1),
         d = RtPacket(2, 1, 2);
  EXPECT_TRUE(Eval(*r.m, a));
  EXPECT_FALSE(Eval(*r.m, b));
  EXPECT_FALSE(Eval(*r.m, c));
  EXPECT_FALSE(Eval(*r.m, d));
}

TEST(RtMatch, Inversion) {
  auto r = Load(Family::kIPv6, "-m rt ! --rt-type 2");
  Packet a = RtPacket(2, 0, 0), b = RtPacket(0, 0, 0);
  EXPECT_FALSE(Eval(*r.m, a));
  EXPECT_TRUE(Eval(*r.m, b));
  // Without a routing header the match fails, inverted or not.
  Packet none = V6();
  bool hd = true;
  EXPECT_FALSE(Eval(*r.m, none, 0, &hd));
  EXPECT_FALSE(hd);
}

TEST(RtMatch, Type0ReservedAndAddresses) {
  auto res = Load(Family::kIPv6, "-m rt --rt-type 0 --rt-0-res");
  Packet zero = RtPacket(0, 0, 2), nz = RtPacket(0, 0, 2, 1);
  EXPECT_TRUE(Eval(*res.m, zero));
  EXPECT_FALSE(Eval(*res.m, nz));
  auto strict = Load(Family::kIPv6, "-m rt --rt-type 0 --rt-0-addrs ::1,::2");
  auto loose = Load(Family::kIPv6,
                    "-m rt --rt-type 0 --rt-0-addrs ::1,::3 --rt-0-not-strict");
  Packet two = RtPacket(0, 0, 2), three = RtPacket(0, 0, 3);
  EXPECT_TRUE(Eval(*strict.m, two));
  EXPECT_FALSE(Eval(*strict.m, three));  // strict: exactly the list
  EXPECT_FALSE(Eval(*loose.m, two));
  EXPECT_TRUE(Eval(*loose.m, three));
  EXPECT_TRUE(Refused(Family::kIPv6, "-m rt --rt-0-res"));
  EXPECT_TRUE(Refused(Family::kIPv6, "-m rt --rt-type 1 --rt-0-addrs ::1"));
}

TEST(RtMatch, TruncatedHeaderHotdrops) {
  auto r = Load(Family::kIPv6, "-m rt --rt-type 0");
  Packet p = V6(41, 43);
  bool hd = false;
  EXPECT_FALSE(Eval(*r.m, p, 0, &hd));
  EXPECT_TRUE(hd);
  // A header longer than the packet: no match, no drop.
  Packet q = RtPacket(0, 0, 1);
  q.data[41] = 8;
  hd = false;
  EXPECT_FALSE(Eval(*r.m, q, 0, &hd));
  EXPECT_FALSE(hd);
}

}  // namespace
}  // namespace netfence::ext
