// The set match on a host without ipsets.
#include <gtest/gtest.h>

#include "core/restore.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

std::string Refusal(const std::string& rule) {
  static const BuiltinResolver kResolver;
  RestoreOptions o{Family::kIPv4, &kResolver, "test"};
  try {
    Restore("*filter\n-A INPUT " + rule + "\nCOMMIT\n", o);
  } catch (const RestoreError& e) {
    EXPECT_FALSE(e.at_commit) << e.what();
    return e.reason;
  }
  return "accepted";
}

TEST(SetMatch, NoSetExists) {
  EXPECT_EQ(Refusal("-m set --match-set foo src"), "Set foo doesn't exist.");
  EXPECT_EQ(Refusal("-m set ! --match-set bar src,dst -j DROP"),
            "Set bar doesn't exist.");
}

TEST(SetMatch, ArgumentErrorsComeFirst) {
  EXPECT_EQ(Refusal("-m set --match-set foo"),
            "--match-set requires two args.");
  EXPECT_EQ(Refusal("-m set"),
            "You must specify `--match-set' with proper arguments");
  EXPECT_EQ(
      Refusal("-m set --match-set " + std::string(32, 'x') + " src"),
      "setname `" + std::string(32, 'x') + "' too long, max 31 characters.");
  EXPECT_EQ(Refusal("-m set --packets-gt 1 --packets-lt 2"),
            "only one of the --packets-[eq|lt|gt] is allowed");
  EXPECT_EQ(Refusal("-m set ! --bytes-lt 1"),
            "--bytes-lt option cannot be inverted");
}

}  // namespace
}  // namespace netfence::ext
