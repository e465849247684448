// NAT core: tuple choice as get_unique_tuple makes it, and packet rewriting
// with checksums that stay valid.
#include "core/nat_core.h"

#include <gtest/gtest.h>

#include "core/addr.h"
#include "core/checksum.h"
#include "core/ct_proto_sctp.h"

namespace netfence::core {
namespace {

Addr V4(const char* s) { return *ParseIPv4Numeric(s, false); }

Tuple Udp(const char* src, uint16_t sport, const char* dst, uint16_t dport) {
  Tuple t;
  t.family = Family::kIPv4;
  t.src = V4(src);
  t.dst = V4(dst);
  t.sport = sport;
  t.dport = dport;
  t.proto = 17;
  return t;
}

// Confirmed makes a confirmed connection for a tuple through the tracker,
// by running a packet through In and Confirm.
std::vector<uint8_t> UdpPacket(const Tuple& t) {
  std::vector<uint8_t> p(28, 0);
  p[0] = 0x45;
  p[3] = 28;
  p[8] = 64;
  p[9] = 17;
  std::memcpy(p.data() + 12, t.src.b.data(), 4);
  std::memcpy(p.data() + 16, t.dst.b.data(), 4);
  Store16(p.data() + 10, IpChecksum(p.data(), 20));
  Store16(p.data() + 20, t.sport);
  Store16(p.data() + 22, t.dport);
  Store16(p.data() + 24, 8);
  return p;
}

uint32_t Counter() {
  static uint32_t n = 0;
  return n += 7919;
}

TEST(NatCore, MasqueradeKeepsTheSourcePortWhenFree) {
  Conntrack ct;
  NatCore nat(ct, Counter);
  Packet pkt;
  pkt.data = UdpPacket(Udp("192.168.1.10", 5000, "8.8.8.8", 53));
  ASSERT_EQ(ct.In(pkt, Hook::kPrerouting, 0), Verdict::kAccept);
  ASSERT_NE(pkt.ct, nullptr);
  NatRange r;
  r.flags = kNatMapIps;
  r.min_addr = r.max_addr = V4("203.0.113.2");
  bool random = false;
  nat.SetupInfo(*pkt.ct, r, NatManip::kSrc, &random);
  EXPECT_FALSE(random);
  EXPECT_EQ(pkt.ct->tuple[kDirReply].dst, V4("203.0.113.2"));
  EXPECT_EQ(pkt.ct->tuple[kDirReply].dport, 5000);
  ASSERT_EQ(nat.ManipPacket(pkt, Hook::kPostrouting), Verdict::kAccept);
  EXPECT_EQ(IpChecksum(pkt.data.data(), 20), 0);  // header still valid
  EXPECT_EQ(ct.Confirm(pkt, 0), Verdict::kAccept);
}

TEST(NatCore, ClashingSourcesGetANewPortChosenAtRandom) {
  Conntrack ct;
  NatCore nat(ct, Counter);
  NatRange r;
  r.flags = kNatMapIps;
  r.min_addr = r.max_addr = V4("203.0.113.2");
  uint16_t ports[2];
  bool random[2] = {false, false};
  const char* hosts[2] = {"192.168.1.10", "192.168.1.11"};
  for (int i = 0; i < 2; ++i) {
    Packet pkt;
    pkt.data = UdpPacket(Udp(hosts[i], 5000, "8.8.8.8", 53));
    ASSERT_EQ(ct.In(pkt, Hook::kPrerouting, 0), Verdict::kAccept);
    nat.SetupInfo(*pkt.ct, r, NatManip::kSrc, &random[i]);
    ports[i] = pkt.ct->tuple[kDirReply].dport;
    ASSERT_EQ(ct.Confirm(pkt, 0), Verdict::kAccept);
  }
  EXPECT_EQ(ports[0], 5000);
  EXPECT_FALSE(random[0]);
  EXPECT_NE(ports[1], 5000);
  EXPECT_GE(ports[1], 1024);  // stays in its port class
  EXPECT_TRUE(random[1]);
}

TEST(NatCore, DestinationNatRewritesPortAndChecksum) {
  Conntrack ct;
  NatCore nat(ct, Counter);
  Packet pkt;
  Tuple t = Udp("198.51.100.9", 4000, "203.0.113.2", 80);
  pkt.data = UdpPacket(t);
  // A real UDP checksum so the incremental update can be verified.
  uint32_t sum =
      PseudoHeaderV4(pkt.data.data() + 12, pkt.data.data() + 16, 17, 8);
  Store16(pkt.data.data() + 26,
          CsumFold(CsumPartial(pkt.data.data() + 20, 8, sum)));
  ASSERT_EQ(ct.In(pkt, Hook::kPrerouting, 0), Verdict::kAccept);
  NatRange r;
  r.flags = kNatMapIps | kNatProtoSpecified;
  r.min_addr = r.max_addr = V4("10.0.0.5");
  r.min_proto = r.max_proto = 8080;
  nat.SetupInfo(*pkt.ct, r, NatManip::kDst, nullptr);
  ASSERT_EQ(nat.ManipPacket(pkt, Hook::kPrerouting), Verdict::kAccept);
  EXPECT_EQ(Load16(pkt.data.data() + 22), 8080);
  EXPECT_EQ(std::memcmp(pkt.data.data() + 16, V4("10.0.0.5").b.data(), 4), 0);
  sum = PseudoHeaderV4(pkt.data.data() + 12, pkt.data.data() + 16, 17, 8);
  EXPECT_EQ(CsumFold(CsumPartial(pkt.data.data() + 20, 8, sum)), 0);
  EXPECT_EQ(IpChecksum(pkt.data.data(), 20), 0);
}

// sctp_manip_pkt: the port is rewritten and the CRC32c recomputed over the
// packet (it does not cover the addresses, but the port is in it).
TEST(NatCore, SctpPortRewriteRecomputesTheCrc32c) {
  Tuple t = Udp("198.51.100.9", 5000, "203.0.113.2", 3868);
  t.proto = 132;
  Packet pkt;
  pkt.family = Family::kIPv4;
  pkt.data = UdpPacket(t);
  pkt.data[9] = 132;
  pkt.data[3] = 20 + 12 + 4;
  pkt.data.resize(36, 0);
  Store32(pkt.data.data() + 24, 0x1234abcd);  // verification tag
  pkt.data[32] = 6;                           // an ABORT chunk, 4 bytes
  pkt.data[35] = 4;
  Store16(pkt.data.data() + 10, 0);
  Store16(pkt.data.data() + 10, IpChecksum(pkt.data.data(), 20));
  Tuple target = t;
  target.dst = V4("10.0.0.5");
  target.dport = 9999;
  ASSERT_TRUE(ManipL3(pkt, 0, target, NatManip::kDst));
  EXPECT_EQ(Load16(pkt.data.data() + 22), 9999);
  const uint32_t crc = SctpChecksum(pkt, 20);
  uint32_t stored = 0;
  for (int i = 0; i < 4; ++i) stored |= uint32_t(pkt.data[28 + i]) << (8 * i);
  EXPECT_EQ(stored, crc);
  EXPECT_NE(crc, 0u);
}

}  // namespace
}  // namespace netfence::core
