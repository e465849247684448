// The socket match on a host without local sockets.
#include <gtest/gtest.h>

#include "core/restore.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

std::unique_ptr<Ruleset> Load(const std::string& chain,
                              const std::string& rule) {
  static const BuiltinResolver kResolver;
  RestoreOptions o{Family::kIPv4, &kResolver, "test"};
  return Restore("*mangle\n-A " + chain + " " + rule + "\nCOMMIT\n", o);
}

TEST(SocketMatch, NoSocketEverMatches) {
  auto rs = Load("PREROUTING", "-m socket --transparent");
  const Match& m = *rs->FindTable("mangle")
                        ->FindChain("PREROUTING")
                        ->rules[0]
                        .matches[0]
                        .match;
  Packet pkt;
  pkt.data.assign(40, 0);
  pkt.data[0] = 0x45;
  pkt.sk = SockOwner{};
  XtParams p;
  p.skb = &pkt;
  EXPECT_FALSE(m.Matches(p));
}

TEST(SocketMatch, OnlyOnTheWayIn) {
  EXPECT_NO_THROW(Load("INPUT", "-m socket"));
  EXPECT_THROW(Load("OUTPUT", "-m socket"), RestoreError);
  EXPECT_THROW(Load("FORWARD", "-m socket --nowildcard"), RestoreError);
}

}  // namespace
}  // namespace netfence::ext
