// Packet logic of the physdev match (no bridge in the model).
#include <gtest/gtest.h>

#include "core/restore.h"
#include "ext/match_test_util.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

using namespace netfence::ext::match_test;

TEST(PhysdevMatch, UnbridgedPacketFailsPlainOptions) {
  auto in = Load(Family::kIPv4, "-m physdev --physdev-in eth0");
  auto br = Load(Family::kIPv4, "-m physdev --physdev-is-bridged", "FORWARD");
  Packet p = V4();
  EXPECT_FALSE(Eval(*in.m, p));
  EXPECT_FALSE(Eval(*br.m, p));
}

TEST(PhysdevMatch, UnbridgedPacketPassesInvertedOptions) {
  auto r = Load(Family::kIPv4,
                "-m physdev ! --physdev-is-bridged ! --physdev-in eth+");
  auto mixed =
      Load(Family::kIPv4, "-m physdev ! --physdev-is-bridged --physdev-is-in");
  Packet p = V4();
  EXPECT_TRUE(Eval(*r.m, p));
  EXPECT_FALSE(Eval(*mixed.m, p));
}

TEST(PhysdevMatch, OutputOnlyWhenBridged) {
  static const BuiltinResolver kResolver;
  RestoreOptions o{Family::kIPv4, &kResolver, "test"};
  EXPECT_THROW(Restore("*filter\n-A OUTPUT -m physdev --physdev-out eth0\n"
                       "COMMIT\n",
                       o),
               RestoreError);
  EXPECT_NO_THROW(
      Restore("*filter\n-A OUTPUT -m physdev --physdev-out eth0 "
              "--physdev-is-bridged\nCOMMIT\n",
              o));
  EXPECT_TRUE(Refused(Family::kIPv4, "-m physdev"));
}

}  // namespace
}  // namespace netfence::ext
