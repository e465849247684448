#include "core/defrag.h"

#include <gtest/gtest.h>

namespace netfence::core {
namespace {

// V6 builds an IPv6 packet from 2001:db8::1 to 2001:db8::2 whose first next
// header is `nh` followed by `rest` (extension headers and payload).
Packet V6(uint8_t nh, std::vector<uint8_t> rest) {
  Packet p;
  p.family = Family::kIPv6;
  p.data = {0x60, 0, 0, 0, uint8_t(rest.size() >> 8), uint8_t(rest.size()), nh, 64};
  for (int k = 0; k < 2; ++k) {
    std::vector<uint8_t> a(16, 0);
    a[0] = 0x20, a[1] = 0x01, a[2] = 0x0d, a[3] = 0xb8, a[15] = uint8_t(k + 1);
    p.data.insert(p.data.end(), a.begin(), a.end());
  }
  p.data.insert(p.data.end(), rest.begin(), rest.end());
  return p;
}

// nf_ct_frag6_gather has no shortcut for atomic fragments: the fragment
// completes its own queue and leaves without its fragment header.
TEST(Defrag, AtomicFragmentV6IsReassembledWithoutItsHeader) {
  const std::vector<uint8_t> udp = {0x30, 0x39, 0x00, 0x35, 0x00, 0x0c, 0, 0,
                                    'a',  'b',  'c',  'd'};
  std::vector<uint8_t> rest = {17, 0, 0x00, 0x00, 0, 0, 0x12, 0x34};  // offset 0, M=0
  rest.insert(rest.end(), udp.begin(), udp.end());
  Packet p = V6(44, rest);
  Defrag d;
  ASSERT_EQ(d.Process(p, 0), DefragResult::kComplete);
  Packet want = V6(17, udp);
  EXPECT_EQ(p.data, want.data);
}

TEST(Defrag, AtomicFragmentV6BehindDestinationOptions) {
  std::vector<uint8_t> rest = {44, 0, 1, 4, 0, 0, 0, 0};  // dst opts, PadN
  const std::vector<uint8_t> tail = {59, 0, 0, 0, 0, 0, 0, 7};
  rest.insert(rest.end(), tail.begin(), tail.end());
  rest.insert(rest.end(), {1, 2, 3, 4, 5, 6, 7, 8});
  Packet p = V6(60, rest);
  Defrag d;
  ASSERT_EQ(d.Process(p, 0), DefragResult::kComplete);
  Packet want = V6(60, {59, 0, 1, 4, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8});
  EXPECT_EQ(p.data, want.data);
}

TEST(Defrag, UnfragmentedV4PassesUntouched) {
  Packet p;
  p.family = Family::kIPv4;
  p.data = {0x45, 0, 0, 20, 0, 1, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2};
  const auto before = p.data;
  Defrag d;
  EXPECT_EQ(d.Process(p, 0), DefragResult::kNotFragment);
  EXPECT_EQ(p.data, before);
}

}  // namespace
}  // namespace netfence::core
