// TRACE: only in the raw table; marks the packet and lets it continue.
#include <gtest/gtest.h>

#include "ext/xt_REJECT_test_util.h"

namespace netfence::ext::reject_test {
namespace {

TEST(TraceTarget, RawTableOnly) {
  for (Family f : {Family::kIPv4, Family::kIPv6}) {
    EXPECT_EQ(Stage(f, "raw", "PREROUTING", "-j TRACE"), 0);
    EXPECT_EQ(Stage(f, "raw", "OUTPUT", "-j TRACE"), 0);
    EXPECT_EQ(Stage(f, "filter", "INPUT", "-j TRACE"), 1);
    EXPECT_EQ(Stage(f, "mangle", "PREROUTING", "-j TRACE"), 1);
    EXPECT_EQ(Stage(f, "raw", "PREROUTING", "-j TRACE --foo"), 2);
  }
  EXPECT_EQ(SavedRule(Family::kIPv6, "raw", "OUTPUT", "-j TRACE"),
            "-A OUTPUT -j TRACE");
}

TEST(TraceTarget, MarksThePacket) {
  OneRule r = LoadRule(Family::kIPv4, "raw", "PREROUTING", "-j TRACE");
  Packet pkt;
  pkt.data.assign(20, 0);
  XtParams p;
  p.skb = &pkt;
  EXPECT_EQ(r.target->Run(p), Verdict::kContinue);
  EXPECT_TRUE(pkt.nftrace);
}

}  // namespace
}  // namespace netfence::ext::reject_test
