// Packet logic of the ecn match.
#include <gtest/gtest.h>

#include "core/restore.h"
#include "ext/match_test_util.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

using namespace netfence::ext::match_test;

Packet TcpWithFlags(uint8_t tos, uint8_t flags) {
  Packet p = V4(40, 6);
  p.data[1] = tos;
  p.data[32] = 0x50;
  p.data[33] = flags;
  return p;
}

TEST(EcnMatch, TcpBits) {
  auto ece = Load(Family::kIPv4, "-p tcp -m ecn --ecn-tcp-ece");
  auto not_cwr = Load(Family::kIPv4, "-p tcp -m ecn ! --ecn-tcp-cwr");
  Packet a = TcpWithFlags(0, 0x40), b = TcpWithFlags(0, 0x80);
  EXPECT_TRUE(Eval(*ece.m, a, 20));
  EXPECT_FALSE(Eval(*ece.m, b, 20));
  EXPECT_TRUE(Eval(*not_cwr.m, a, 20));
  EXPECT_FALSE(Eval(*not_cwr.m, b, 20));
  Packet cut = TcpWithFlags(0, 0x40);
  cut.data.resize(30);
  bool hd = false;
  EXPECT_FALSE(Eval(*ece.m, cut, 20, &hd));
  EXPECT_FALSE(hd);
}

TEST(EcnMatch, IpCodepoint) {
  auto r = Load(Family::kIPv4, "-m ecn --ecn-ip-ect 3");
  auto inv = Load(Family::kIPv6, "-m ecn ! --ecn-ip-ect 1");
  Packet p = TcpWithFlags(3, 0);
  EXPECT_TRUE(Eval(*r.m, p, 20));
  Packet q = V6();
  q.data[1] = 0x10;  // ECT(1)
  EXPECT_FALSE(Eval(*inv.m, q));
  q.data[1] = 0x20;
  EXPECT_TRUE(Eval(*inv.m, q));
  EXPECT_TRUE(Refused(Family::kIPv4, "-m ecn --ecn-tcp-ece"));
}

}  // namespace
}  // namespace netfence::ext
