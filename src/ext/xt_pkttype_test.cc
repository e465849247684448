// Packet logic of the pkttype match.
#include <gtest/gtest.h>

#include "core/restore.h"
#include "ext/match_test_util.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

using namespace netfence::ext::match_test;

TEST(PkttypeMatch, Types) {
  auto r = Load(Family::kIPv4, "-m pkttype --pkt-type BCAST");
  auto inv = Load(Family::kIPv4, "-m pkttype ! --pkt-type unicast");
  Packet p = V4();
  p.pkt_type = PktType::kBroadcast;
  EXPECT_TRUE(Eval(*r.m, p));
  EXPECT_TRUE(Eval(*inv.m, p));
  p.pkt_type = PktType::kHost;
  EXPECT_FALSE(Eval(*r.m, p));
  EXPECT_FALSE(Eval(*inv.m, p));
}

TEST(PkttypeMatch, LoopbackClassifiedByDestination) {
  auto mc = Load(Family::kIPv4, "-m pkttype --pkt-type multicast");
  auto bc = Load(Family::kIPv4, "-m pkttype --pkt-type broadcast");
  Packet p = V4();
  p.pkt_type = PktType::kLoopback;
  p.data[16] = 224;
  EXPECT_TRUE(Eval(*mc.m, p));
  p.data[16] = 127;
  EXPECT_FALSE(Eval(*mc.m, p));
  EXPECT_TRUE(Eval(*bc.m, p));
  auto mc6 = Load(Family::kIPv6, "-m pkttype --pkt-type multicast");
  Packet q = V6();
  q.pkt_type = PktType::kLoopback;
  EXPECT_TRUE(Eval(*mc6.m, q));
}

}  // namespace
}  // namespace netfence::ext
