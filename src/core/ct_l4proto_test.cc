// Where conntrack finds an IPv6 packet's transport header (get_l4proto with
// ipv6_skip_exthdr): a chain that ends in "no next header" is not tracked,
// which the kernel (6.18) showed in the ext2 differential suite (seeds 84,
// 275: such a packet is INVALID, without an entry).
#include <gtest/gtest.h>

#include <vector>

#include "core/conntrack.h"
#include "core/pktinfo.h"

namespace netfence::core {
namespace {

// V6 is an IPv6 packet from 2001:db8::1 to 2001:db8::2 whose first next
// header is nh, followed by payload (extension headers and the rest).
Packet V6(uint8_t nh, const std::vector<uint8_t>& payload) {
  Packet p;
  p.family = Family::kIPv6;
  p.data.assign(40, 0);
  p.data[0] = 0x60;
  Store16(&p.data[4], uint16_t(payload.size()));
  p.data[6] = nh;
  p.data[7] = 64;
  p.data[8] = 0x20;
  p.data[9] = 0x01;
  p.data[10] = 0x0d;
  p.data[11] = 0xb8;
  p.data[23] = 1;
  p.data[24] = 0x20;
  p.data[25] = 0x01;
  p.data[26] = 0x0d;
  p.data[27] = 0xb8;
  p.data[39] = 2;
  p.data.insert(p.data.end(), payload.begin(), payload.end());
  return p;
}

// Hbh is an empty hop-by-hop header (8 bytes, PadN) followed by next.
std::vector<uint8_t> Hbh(uint8_t next) { return {next, 0, 1, 4, 0, 0, 0, 0}; }

// Udp is a UDP header from port 1000 to 53 without data.
std::vector<uint8_t> Udp() { return {0x03, 0xe8, 0x00, 0x35, 0, 8, 0, 0}; }

Conntrack& Tracker() {
  static CtConfig cfg = [] {
    CtConfig c;
    c.checksum = false;
    return c;
  }();
  static Conntrack ct(cfg);
  return ct;
}

TEST(CtL4proto, NoNextHeaderAfterExtensionHeadersIsNotTracked) {
  Packet p = V6(0, Hbh(59));  // hop-by-hop, then nothing (seed 84)
  EXPECT_EQ(Tracker().In(p, Hook::kPrerouting, 0), Verdict::kAccept);
  EXPECT_EQ(p.ct, nullptr);
  EXPECT_EQ(p.ctinfo, CtInfo::kEstablished);  // no entry: INVALID
}

TEST(CtL4proto, NoNextHeaderRightAfterTheIpv6HeaderIsNotTracked) {
  Packet p = V6(59, {});
  EXPECT_EQ(Tracker().In(p, Hook::kPrerouting, 0), Verdict::kAccept);
  EXPECT_EQ(p.ct, nullptr);
}

TEST(CtL4proto, TransportAfterExtensionHeadersIsTracked) {
  std::vector<uint8_t> payload = Hbh(17);
  for (uint8_t b : Udp()) payload.push_back(b);
  Packet p = V6(0, payload);
  EXPECT_EQ(Tracker().In(p, Hook::kPrerouting, 0), Verdict::kAccept);
  ASSERT_NE(p.ct, nullptr);
  EXPECT_EQ(p.ct->tuple[kDirOriginal].proto, 17);
  EXPECT_EQ(p.ctinfo, CtInfo::kNew);
}

TEST(CtL4proto, SkipExthdrStopsAtNonFirstFragmentsAndEsp) {
  // A fragment header with offset 8: the walk stops there.
  Packet frag = V6(44, {17, 0, 0x00, 0x08, 0, 0, 0, 1});
  uint8_t nh = 44;
  uint16_t frag_off = 0;
  EXPECT_EQ(Ipv6SkipExthdr(frag, 40, nh, frag_off), 40);
  EXPECT_EQ(frag_off, 8);
  // ESP is no extension header for the walk.
  std::vector<uint8_t> esp = Hbh(50);
  esp.resize(esp.size() + 8, 0);
  Packet p = V6(0, esp);
  nh = 0;
  EXPECT_EQ(Ipv6SkipExthdr(p, 40, nh, frag_off), 48);
  EXPECT_EQ(nh, 50);
  // A truncated extension header.
  Packet cut = V6(60, {});
  nh = 60;
  EXPECT_EQ(Ipv6SkipExthdr(cut, 40, nh, frag_off), -1);
}

}  // namespace
}  // namespace netfence::core
