// SET target: no ipset exists on the simulated host.
#include "ext/target_test_util.h"

namespace netfence::ext::target_test {
namespace {

std::string Error(const std::string& rule) {
  try {
    LoadRule(Family::kIPv4, "filter", "INPUT", "-j SET " + rule);
  } catch (const RestoreError& e) {
    EXPECT_FALSE(e.at_commit);
    return e.reason;
  }
  return "";
}

TEST(SetTarget, EverySetIsMissing) {
  EXPECT_EQ(Error("--add-set foo src,dst"), "Set foo doesn't exist.");
  EXPECT_EQ(Error("--del-set bar dst"), "Set bar doesn't exist.");
  EXPECT_EQ(Error("--map-set m src --map-mark"), "Set m doesn't exist.");
}

TEST(SetTarget, ParserChecksComeFirst) {
  EXPECT_EQ(Error("--add-set foo"), "--add-set requires two args.");
  EXPECT_EQ(Error("--add-set foo --exist"), "--add-set requires two args.");
  EXPECT_EQ(
      Error("--add-set " + std::string(32, 'x') + " src"),
      "setname `" + std::string(32, 'x') + "' too long, max 31 characters.");
  EXPECT_EQ(Error("--exist"),
            "You must specify either `--add-set' or `--del-set' or "
            "`--map-set'");
  EXPECT_EQ(Error("--timeout 4294967295"),
            "Invalid value for option --timeout or out of range 0-4294967294");
}

}  // namespace
}  // namespace netfence::ext::target_test
