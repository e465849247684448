// Packet logic of the tcpmss match.
#include <gtest/gtest.h>

#include "core/restore.h"
#include "ext/match_test_util.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

using namespace netfence::ext::match_test;

// SynWithOptions is IPv4 + TCP with the given options (padded to 4).
Packet SynWithOptions(std::vector<uint8_t> opts) {
  while (opts.size() % 4) opts.push_back(0);
  Packet p = V4(40, 6);
  p.data[32] = uint8_t((20 + opts.size()) / 4 << 4);
  p.data[33] = 0x02;
  p.data.insert(p.data.end(), opts.begin(), opts.end());
  return p;
}

TEST(TcpmssMatch, FindsMssAfterOtherOptions) {
  auto r = Load(Family::kIPv4, "-p tcp -m tcpmss --mss 1000:1460");
  auto inv = Load(Family::kIPv4, "-p tcp -m tcpmss ! --mss 1000:1460");
  Packet p = SynWithOptions({1, 1, 4, 2, 2, 4, 0x05, 0xb4});  // MSS 1460
  EXPECT_TRUE(Eval(*r.m, p, 20));
  EXPECT_FALSE(Eval(*inv.m, p, 20));
  Packet big = SynWithOptions({2, 4, 0x20, 0x00});  // MSS 8192
  EXPECT_FALSE(Eval(*r.m, big, 20));
}

TEST(TcpmssMatch, NoMssOption) {
  auto r = Load(Family::kIPv4, "-p tcp -m tcpmss --mss 1460");
  auto inv = Load(Family::kIPv4, "-p tcp -m tcpmss ! --mss 1460");
  Packet p = SynWithOptions({});
  EXPECT_FALSE(Eval(*r.m, p, 20));
  EXPECT_TRUE(Eval(*inv.m, p, 20));
}

TEST(TcpmssMatch, MalformedOrTruncatedHotdrops) {
  auto r = Load(Family::kIPv4, "-p tcp -m tcpmss --mss 1460");
  Packet p = SynWithOptions({2, 4, 0x05, 0xb4});
  p.data[32] = 0x40;  // data offset 16 bytes
  bool hd = false;
  EXPECT_FALSE(Eval(*r.m, p, 20, &hd));
  EXPECT_TRUE(hd);
  Packet q = SynWithOptions({2, 4, 0x05, 0xb4});
  q.data.resize(42);
  hd = false;
  EXPECT_FALSE(Eval(*r.m, q, 20, &hd));
  EXPECT_TRUE(hd);
}

}  // namespace
}  // namespace netfence::ext
