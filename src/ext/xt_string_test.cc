// Packet logic of the string match.
#include <gtest/gtest.h>

#include "core/restore.h"
#include "ext/match_test_util.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

using namespace netfence::ext::match_test;

// Payload is an IPv4 header (20 bytes) followed by text.
Packet Payload(const std::string& text) {
  Packet p = V4(20, 17);
  p.data.insert(p.data.end(), text.begin(), text.end());
  return p;
}

TEST(StringMatch, BmAndKmpFindPattern) {
  for (const char* algo : {"bm", "kmp"}) {
    auto r = Load(Family::kIPv4,
                  std::string("-m string --string GET --algo ") + algo);
    Packet a = Payload("xxGET /"), b = Payload("xxGEX /");
    EXPECT_TRUE(Eval(*r.m, a)) << algo;
    EXPECT_FALSE(Eval(*r.m, b)) << algo;
  }
}

TEST(StringMatch, OffsetsWindow) {
  // The pattern at offset 22..24 (after the 20-byte header).
  Packet p = Payload("xxGET");
  auto inside =
      Load(Family::kIPv4, "-m string --string GET --algo bm --from 22 --to 25");
  auto early_end = Load(Family::kIPv4,
                        "-m string --string GET --algo kmp --from 20 --to 24");
  auto late_start =
      Load(Family::kIPv4, "-m string --string GET --algo bm --from 23");
  EXPECT_TRUE(Eval(*inside.m, p));
  EXPECT_FALSE(Eval(*early_end.m, p));
  EXPECT_FALSE(Eval(*late_start.m, p));
}

TEST(StringMatch, IgnoreCaseAndInversion) {
  auto icase = Load(Family::kIPv4, "-m string --string get --algo bm --icase");
  auto inv = Load(Family::kIPv4, "-m string ! --string get --algo kmp");
  Packet p = Payload("a GeT b");
  EXPECT_TRUE(Eval(*icase.m, p));
  EXPECT_TRUE(Eval(*inv.m, p));
  Packet q = Payload("a get b");
  EXPECT_FALSE(Eval(*inv.m, q));
}

TEST(StringMatch, HexStringAndSave) {
  auto r =
      Load(Family::kIPv4, "-m string --hex-string \"a|00 ff|\\|b\" --algo kmp");
  Packet p = Payload(std::string("za\x00\xff|b", 6));
  EXPECT_TRUE(Eval(*r.m, p));
  EXPECT_NE(Save(*r.rs, false).find("--hex-string \"|6100ff7c62|\" --algo kmp"),
            std::string::npos);
  EXPECT_TRUE(
      Refused(Family::kIPv4, "-m string --hex-string \"|0|\" --algo bm"));
  EXPECT_TRUE(Refused(Family::kIPv4, "-m string --string x --algo nope"));
  EXPECT_TRUE(Refused(Family::kIPv4, "-m string --string \"\" --algo bm"));
  EXPECT_TRUE(
      Refused(Family::kIPv4, "-m string --string x --algo bm --from 5 --to 4"));
}

TEST(StringMatch, FsmTokens) {
  // Tokens: digit (multi), then 'x' (single): digits then "x" ending the
  // packet. Each token: type (u16 LE), recurrence, value.
  auto r = Load(Family::kIPv4,
                "-m string --hex-string \"|02 00 03 00 00 00 00 78|\" "
                "--algo fsm --from 20");
  Packet a = Payload("123x"), b = Payload("123xy"), c = Payload("x");
  EXPECT_TRUE(Eval(*r.m, a));
  EXPECT_FALSE(Eval(*r.m, b));  // fsm wants the match to end the data
  EXPECT_FALSE(Eval(*r.m, c));
  // Text is no token list: refused when the table is committed.
  EXPECT_TRUE(Refused(Family::kIPv4, "-m string --string abcd --algo fsm"));
  EXPECT_TRUE(Refused(Family::kIPv4,
                      "-m string --hex-string \"|02000300|\" --algo fsm "
                      "--icase"));
}

}  // namespace
}  // namespace netfence::ext
