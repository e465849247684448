// Packet logic of the ah match (IPv4 and IPv6).
#include <gtest/gtest.h>

#include "core/restore.h"
#include "ext/match_test_util.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

using namespace netfence::ext::match_test;

TEST(AhMatch, Ipv4Spi) {
  auto r = Load(Family::kIPv4, "-p ah -m ah --ahspi 7");
  auto inv = Load(Family::kIPv4, "-p ah -m ah ! --ahspi 7");
  Packet p = V4(32, 51);
  Store32(&p.data[24], 7);
  EXPECT_TRUE(Eval(*r.m, p, 20));
  EXPECT_FALSE(Eval(*inv.m, p, 20));
  Store32(&p.data[24], 8);
  EXPECT_FALSE(Eval(*r.m, p, 20));
  EXPECT_TRUE(Eval(*inv.m, p, 20));
  bool hd = false;
  p.data.resize(31);
  EXPECT_FALSE(Eval(*r.m, p, 20, &hd));
  EXPECT_TRUE(hd);
}

// Ah6Packet is IPv6 + AH (hdrlen field 4: 24 bytes) + nothing.
Packet Ah6Packet(uint32_t spi, uint16_t reserved = 0) {
  Packet p = V6(40 + 24, 51);
  p.data[40] = 59;
  p.data[41] = 4;
  Store16(&p.data[42], reserved);
  Store32(&p.data[44], spi);
  return p;
}

TEST(AhMatch, Ipv6SpiLenRes) {
  auto r = Load(Family::kIPv6, "-m ah --ahspi 5:6 --ahlen 24 --ahres");
  auto badlen = Load(Family::kIPv6, "-m ah ! --ahlen 24");
  Packet a = Ah6Packet(5), b = Ah6Packet(7), c = Ah6Packet(6, 1);
  EXPECT_TRUE(Eval(*r.m, a));
  EXPECT_FALSE(Eval(*r.m, b));
  EXPECT_FALSE(Eval(*r.m, c));
  EXPECT_FALSE(Eval(*badlen.m, a));
}

TEST(AhMatch, Ipv6NoHeaderOrTruncated) {
  auto r = Load(Family::kIPv6, "-m ah ! --ahspi 5");
  Packet none = V6();
  bool hd = true;
  EXPECT_FALSE(Eval(*r.m, none, 0, &hd));
  EXPECT_FALSE(hd);
  Packet cut = Ah6Packet(1);
  cut.data.resize(50);
  EXPECT_FALSE(Eval(*r.m, cut, 0, &hd));
  EXPECT_TRUE(hd);
}

}  // namespace
}  // namespace netfence::ext
