// Behaviour of the comment match.
#include <gtest/gtest.h>

#include "core/restore.h"
#include "ext/match_test_util.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

using namespace netfence::ext::match_test;

TEST(CommentMatch, AlwaysMatchesAndKeeps255Chars) {
  auto r = Load(Family::kIPv4, "-m comment --comment \"a b\"");
  Packet p = V4();
  EXPECT_TRUE(Eval(*r.m, p));
  std::string long_text(300, 'x');
  auto l = Load(Family::kIPv4, "-m comment --comment " + long_text);
  std::string saved = Save(*l.rs, false);
  EXPECT_NE(saved.find("--comment " + std::string(255, 'x') + "\n"),
            std::string::npos);
  EXPECT_TRUE(Refused(Family::kIPv4, "-m comment"));
}

}  // namespace
}  // namespace netfence::ext
