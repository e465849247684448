// Packet logic of the sctp match.
#include <gtest/gtest.h>

#include "core/restore.h"
#include "ext/match_test_util.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

using namespace netfence::ext::match_test;

// SctpPacket is IPv4 + SCTP common header + chunks {type, flags, length}.
Packet SctpPacket(uint16_t sport, uint16_t dport,
                  std::vector<std::array<uint16_t, 3>> chunks) {
  Packet p = V4(32, 132);
  Store16(&p.data[20], sport);
  Store16(&p.data[22], dport);
  for (auto [type, flags, len] : chunks) {
    size_t at = p.data.size();
    p.data.resize(at + std::max(4u, (len + 3u) & ~3u), 0);
    p.data[at] = uint8_t(type);
    p.data[at + 1] = uint8_t(flags);
    Store16(&p.data[at + 2], len);
  }
  return p;
}

TEST(SctpMatch, Ports) {
  auto r = Load(Family::kIPv4, "-p sctp -m sctp --sport 5:6 ! --dport 80");
  Packet a = SctpPacket(5, 81, {{0, 0, 4}}), b = SctpPacket(5, 80, {{0, 0, 4}}),
         c = SctpPacket(7, 81, {{0, 0, 4}});
  EXPECT_TRUE(Eval(*r.m, a, 20));
  EXPECT_FALSE(Eval(*r.m, b, 20));
  EXPECT_FALSE(Eval(*r.m, c, 20));
}

TEST(SctpMatch, ChunkTypesAnyAllOnly) {
  auto any =
      Load(Family::kIPv4, "-p sctp -m sctp --chunk-types any INIT,ABORT");
  auto all =
      Load(Family::kIPv4, "-p sctp -m sctp --chunk-types all INIT,ABORT");
  auto only =
      Load(Family::kIPv4, "-p sctp -m sctp --chunk-types only INIT,ABORT");
  Packet init = SctpPacket(1, 2, {{1, 0, 20}});
  Packet both = SctpPacket(1, 2, {{1, 0, 20}, {6, 0, 4}});
  Packet data = SctpPacket(1, 2, {{1, 0, 20}, {0, 0, 17}});
  EXPECT_TRUE(Eval(*any.m, init, 20));
  EXPECT_FALSE(Eval(*all.m, init, 20));
  EXPECT_TRUE(Eval(*all.m, both, 20));
  EXPECT_TRUE(Eval(*only.m, both, 20));
  EXPECT_FALSE(Eval(*only.m, data, 20));
  EXPECT_TRUE(Eval(*any.m, data, 20));
}

TEST(SctpMatch, ChunkFlagsAndInversion) {
  auto r = Load(Family::kIPv4, "-p sctp -m sctp --chunk-types any ABORT:T");
  auto inv = Load(Family::kIPv4, "-p sctp -m sctp ! --chunk-types any ABORT:t");
  Packet t = SctpPacket(1, 2, {{6, 1, 4}}),
         not_t = SctpPacket(1, 2, {{6, 0, 4}});
  EXPECT_TRUE(Eval(*r.m, t, 20));
  EXPECT_FALSE(Eval(*r.m, not_t, 20));
  EXPECT_TRUE(Eval(*inv.m, t, 20));
  EXPECT_FALSE(Eval(*inv.m, not_t, 20));
  EXPECT_NE(Save(*r.rs, false).find("--chunk-types any ABORT:T"),
            std::string::npos);
}

TEST(SctpMatch, ZeroLengthChunkHotdrops) {
  auto r = Load(Family::kIPv4, "-p sctp -m sctp --chunk-types any INIT");
  Packet p = SctpPacket(1, 2, {{0, 0, 4}, {1, 0, 0}});
  bool hd = false;
  EXPECT_FALSE(Eval(*r.m, p, 20, &hd));
  EXPECT_TRUE(hd);
}

TEST(SctpMatch, TruncatedHeaderHotdrops) {
  auto r = Load(Family::kIPv4, "-p sctp -m sctp --dport 1");
  Packet p = V4(30, 132);
  bool hd = false;
  EXPECT_FALSE(Eval(*r.m, p, 20, &hd));
  EXPECT_TRUE(hd);
  EXPECT_FALSE(Eval(*r.m, p, 20, &hd, 4));
}

TEST(SctpMatch, ParseErrors) {
  EXPECT_TRUE(Refused(Family::kIPv4, "-p sctp -m sctp --chunk-types any"));
  EXPECT_TRUE(
      Refused(Family::kIPv4, "-p sctp -m sctp --chunk-types some INIT"));
  EXPECT_TRUE(
      Refused(Family::kIPv4, "-p sctp -m sctp --chunk-types any INIT:X"));
  EXPECT_TRUE(Refused(Family::kIPv4, "-m sctp --dport 1"));
}

}  // namespace
}  // namespace netfence::ext
