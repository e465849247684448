// NFLOG: save form, the kernel's checks and the line the simulation logs.
#include <gtest/gtest.h>

#include "ext/xt_REJECT_test_util.h"

namespace netfence::ext::reject_test {
namespace {

TEST(NflogTarget, SaveForm) {
  EXPECT_EQ(SavedRule(Family::kIPv4, "filter", "INPUT",
                      "-j NFLOG --nflog-threshold 5 --nflog-group 3 "
                      "--nflog-prefix \"x y\" --nflog-size 100"),
            "-A INPUT -j NFLOG --nflog-prefix \"x y\" --nflog-group 3 "
            "--nflog-size 100 --nflog-threshold 5");
  // --nflog-range is kept (and printed) but copies nothing.
  EXPECT_EQ(
      SavedRule(Family::kIPv6, "mangle", "FORWARD", "-j NFLOG --nflog-range 0"),
      "-A FORWARD -j NFLOG");
  EXPECT_EQ(SavedRule(Family::kIPv6, "raw", "OUTPUT",
                      "-j NFLOG --nflog-range 9 --nflog-threshold 0"),
            "-A OUTPUT -j NFLOG --nflog-range 9");
}

TEST(NflogTarget, ParserRefusals) {
  EXPECT_EQ(Stage(Family::kIPv4, "filter", "INPUT",
                  "-j NFLOG --nflog-range 1 --nflog-size 1"),
            2);
  EXPECT_EQ(Stage(Family::kIPv4, "filter", "INPUT",
                  "-j NFLOG --nflog-group 1 --nflog-group 2"),
            2);
  EXPECT_EQ(
      Stage(Family::kIPv4, "filter", "INPUT", "-j NFLOG --nflog-prefix \"\""),
      2);
}

TEST(NflogTarget, LogsGroupAndPrefix) {
  for (const char* rule :
       {"-j NFLOG --nflog-group 5 --nflog-prefix \"[UFW BLOCK] \"",
        "-j NFLOG --nflog-size 64"}) {
    OneRule r = LoadRule(Family::kIPv4, "filter", "INPUT", rule);
    Packet pkt;
    pkt.data.assign(20, 0);
    HookState st;
    st.hook = Hook::kInput;
    RecordingServices svc;
    XtParams p;
    p.skb = &pkt;
    p.state = &st;
    p.svc = &svc;
    EXPECT_EQ(r.target->Run(p), Verdict::kContinue);
    ASSERT_EQ(svc.logs.size(), 1u);
    if (std::string(rule).find("size") != std::string::npos)
      EXPECT_EQ(svc.logs[0], "NFLOG group=0 prefix=\"\" size=64");
    else
      EXPECT_EQ(svc.logs[0], "NFLOG group=5 prefix=\"[UFW BLOCK] \"");
  }
}

}  // namespace
}  // namespace netfence::ext::reject_test
