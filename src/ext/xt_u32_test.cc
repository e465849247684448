// Packet logic of the u32 match.
#include <gtest/gtest.h>

#include "core/restore.h"
#include "ext/match_test_util.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

using namespace netfence::ext::match_test;

TEST(U32Match, IpVersionAndProtocol) {
  // IPv4 header length 5 and protocol UDP or TCP.
  auto r = Load(Family::kIPv4, "-m u32 --u32 \"0>>24&0xf=5 && 6&0xff=6,17\"");
  Packet p = V4(20, 17);
  EXPECT_TRUE(Eval(*r.m, p));
  p.data[9] = 1;
  EXPECT_FALSE(Eval(*r.m, p));
}

TEST(U32Match, AtOperatorFollowsHeaderLength) {
  // Destination port of TCP/UDP: skip the IP header with @.
  auto r = Load(Family::kIPv4, "-m u32 --u32 \"0>>22&0x3C@0>>16=53\"");
  auto inv = Load(Family::kIPv4, "-m u32 ! --u32 \"0>>22&0x3C@0>>16=53\"");
  Packet p = V4(28, 17);
  Store16(&p.data[20], 53);
  EXPECT_TRUE(Eval(*r.m, p));
  EXPECT_FALSE(Eval(*inv.m, p));
  p.data.resize(23);  // the read at 20 runs past the end: no match
  EXPECT_FALSE(Eval(*r.m, p));
  EXPECT_TRUE(Eval(*inv.m, p));
}

TEST(U32Match, ParseErrorsAndSave) {
  EXPECT_TRUE(Refused(Family::kIPv4, "-m u32 --u32 \"0\""));
  EXPECT_TRUE(Refused(Family::kIPv4, "-m u32 --u32 \"0=\""));
  EXPECT_TRUE(Refused(Family::kIPv4, "-m u32 --u32 \"0<1=1\""));
  auto r = Load(Family::kIPv4, "-m u32 --u32 \"4 & 0x1FFF = 0:10, 20\"");
  EXPECT_NE(Save(*r.rs, false).find("--u32 \"0x4&0x1fff=0x0:0xa,0x14\""),
            std::string::npos);
}

}  // namespace
}  // namespace netfence::ext
