// Packet logic of the hbh and dst matches.
#include <gtest/gtest.h>

#include "core/restore.h"
#include "ext/match_test_util.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

using namespace netfence::ext::match_test;

// OptsPacket is IPv6 + one options header (8 bytes) of type `nh` holding
// a Router Alert option (5, len 2) and a Pad1... padded with PadN.
Packet OptsPacket(uint8_t nh) {
  Packet p = V6(48, nh);
  uint8_t* h = &p.data[40];
  h[0] = 59;
  h[1] = 0;  // 8 bytes
  h[2] = 5;  // Router Alert
  h[3] = 2;
  h[4] = 0;
  h[5] = 0;
  h[6] = 0;  // Pad1
  h[7] = 0;  // Pad1
  return p;
}

TEST(HbhMatch, LengthAndOptions) {
  auto len = Load(Family::kIPv6, "-m hbh --hbh-len 8");
  auto notlen = Load(Family::kIPv6, "-m hbh ! --hbh-len 8");
  auto opts = Load(Family::kIPv6, "-m hbh --hbh-opts 5:2,0,0");
  auto wrong = Load(Family::kIPv6, "-m hbh --hbh-opts 5:3");
  Packet p = OptsPacket(0);
  EXPECT_TRUE(Eval(*len.m, p));
  EXPECT_FALSE(Eval(*notlen.m, p));
  EXPECT_TRUE(Eval(*opts.m, p));
  EXPECT_FALSE(Eval(*wrong.m, p));
}

TEST(HbhMatch, DstLooksForDestinationOptions) {
  auto dst = Load(Family::kIPv6, "-m dst --dst-opts 5");
  auto hbh = Load(Family::kIPv6, "-m hbh --hbh-opts 5");
  Packet d = OptsPacket(60);
  EXPECT_TRUE(Eval(*dst.m, d));
  EXPECT_FALSE(Eval(*hbh.m, d));
}

TEST(HbhMatch, TruncationAndShortPacket) {
  auto r = Load(Family::kIPv6, "-m hbh");
  Packet p = OptsPacket(0);
  p.data[41] = 1;  // claims 16 bytes, the packet has 8
  bool hd = false;
  EXPECT_FALSE(Eval(*r.m, p, 0, &hd));
  EXPECT_FALSE(hd);
  Packet cut = V6(41, 0);
  EXPECT_FALSE(Eval(*r.m, cut, 0, &hd));
  EXPECT_TRUE(hd);
  EXPECT_TRUE(Refused(Family::kIPv6, "-m hbh --hbh-opts 0:2"));
  EXPECT_TRUE(Refused(Family::kIPv6, "-m dst --dst-opts x"));
}

}  // namespace
}  // namespace netfence::ext
