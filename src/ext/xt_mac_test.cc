// Packet logic of the mac match.
#include <gtest/gtest.h>

#include "core/restore.h"
#include "ext/match_test_util.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

using namespace netfence::ext::match_test;

TEST(MacMatch, SourceAddress) {
  auto r = Load(Family::kIPv4, "-m mac --mac-source 02:00:00:AA:bb:01");
  auto inv = Load(Family::kIPv4, "-m mac ! --mac-source 02:00:00:aa:bb:01");
  Packet p = V4();
  p.has_mac = true;
  p.src_mac = {0x02, 0, 0, 0xaa, 0xbb, 0x01};
  EXPECT_TRUE(Eval(*r.m, p));
  EXPECT_FALSE(Eval(*inv.m, p));
  p.src_mac[5] = 2;
  EXPECT_FALSE(Eval(*r.m, p));
  EXPECT_TRUE(Eval(*inv.m, p));
}

TEST(MacMatch, NoLinkLayerHeaderNeverMatches) {
  auto inv = Load(Family::kIPv4, "-m mac ! --mac-source 02:00:00:aa:bb:01");
  Packet p = V4();
  p.has_mac = false;
  EXPECT_FALSE(Eval(*inv.m, p));
}

TEST(MacMatch, OnlyInputHooks) {
  static const BuiltinResolver kResolver;
  RestoreOptions o{Family::kIPv4, &kResolver, "test"};
  EXPECT_THROW(Restore("*filter\n-A OUTPUT -m mac --mac-source 0:0:0:0:0:1\n"
                       "COMMIT\n",
                       o),
               RestoreError);
  EXPECT_NO_THROW(
      Restore("*filter\n-A FORWARD -m mac --mac-source "
              "0:0:0:0:0:1\nCOMMIT\n",
              o));
}

}  // namespace
}  // namespace netfence::ext
