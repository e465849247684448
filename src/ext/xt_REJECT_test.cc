// REJECT: option parsing and checks, the reply builders against values
// worked out from the RFCs, the kernel's own replies recorded by
// tests/fixtures/targets/record_kernel.py, and the ICMP rate limiter.
#include "ext/xt_REJECT.h"

#include <gtest/gtest.h>

#include "core/checksum.h"
#include "core/conn.h"
#include "ext/xt_REJECT_test_util.h"

namespace netfence::ext::reject_test {
namespace {

// ---------------------------------------------------------------- packets
// Built by hand here, with a checksum routine of the test's own, so that
// the builders are checked against RFC 791/793/4443 arithmetic rather than
// against themselves.

uint16_t Sum(const std::vector<uint8_t>& d, size_t from, size_t to,
             uint32_t acc = 0) {
  for (size_t i = from; i < to; i += 2)
    acc += (d[i] << 8) + (i + 1 < to ? d[i + 1] : 0);
  while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
  return uint16_t(acc);
}

uint32_t Pseudo4(const std::vector<uint8_t>& ip, uint8_t proto, size_t len) {
  return Sum(ip, 12, 20) + proto + uint32_t(len);
}

uint32_t Pseudo6(const std::vector<uint8_t>& ip, uint8_t proto, size_t len) {
  return Sum(ip, 8, 40) + proto + uint32_t(len);
}

void Put16(std::vector<uint8_t>& d, size_t at, uint16_t v) {
  d[at] = v >> 8;
  d[at + 1] = uint8_t(v);
}

void Put32(std::vector<uint8_t>& d, size_t at, uint32_t v) {
  Put16(d, at, v >> 16);
  Put16(d, at + 2, uint16_t(v));
}

uint16_t Get16(const std::vector<uint8_t>& d, size_t at) {
  return uint16_t(d[at] << 8 | d[at + 1]);
}

uint32_t Get32(const std::vector<uint8_t>& d, size_t at) {
  return uint32_t(Get16(d, at)) << 16 | Get16(d, at + 2);
}

// Ip4 is an IPv4 header (20 bytes, DF) from 10.0.0.2 to 10.0.0.1 around
// payload, with a correct header checksum.
std::vector<uint8_t> Ip4(uint8_t proto, const std::vector<uint8_t>& payload,
                         uint8_t tos = 0, uint16_t frag = 0x4000,
                         const char* src = "10.0.0.2",
                         const char* dst = "10.0.0.1") {
  std::vector<uint8_t> d(20);
  d[0] = 0x45;
  d[1] = tos;
  Put16(d, 2, uint16_t(20 + payload.size()));
  Put16(d, 4, 0x1234);
  Put16(d, 6, frag);
  d[8] = 64;
  d[9] = proto;
  auto s = Ip(src), t = Ip(dst);
  std::copy(s.b.begin(), s.b.begin() + 4, d.begin() + 12);
  std::copy(t.b.begin(), t.b.begin() + 4, d.begin() + 16);
  Put16(d, 10, uint16_t(~Sum(d, 0, 20)));
  d.insert(d.end(), payload.begin(), payload.end());
  return d;
}

std::vector<uint8_t> Ip6(uint8_t nh, const std::vector<uint8_t>& payload,
                         const char* src = "2001:db8::2",
                         const char* dst = "2001:db8::1") {
  std::vector<uint8_t> d(40);
  d[0] = 0x60;
  Put16(d, 4, uint16_t(payload.size()));
  d[6] = nh;
  d[7] = 64;
  auto s = Ip(src), t = Ip(dst);
  std::copy(s.b.begin(), s.b.end(), d.begin() + 8);
  std::copy(t.b.begin(), t.b.end(), d.begin() + 24);
  d.insert(d.end(), payload.begin(), payload.end());
  return d;
}

std::vector<uint8_t> Tcp(uint32_t seq, uint32_t ack, uint8_t flags,
                         size_t data = 0) {
  std::vector<uint8_t> t(20 + data, 'x');
  Put16(t, 0, 40000);
  Put16(t, 2, 80);
  Put32(t, 4, seq);
  Put32(t, 8, ack);
  t[12] = 0x50;
  t[13] = flags;
  Put16(t, 14, 29200);
  Put16(t, 16, 0);
  Put16(t, 18, 0);
  return t;
}

// WithL4Checksum fills the transport checksum at field (offset from the
// transport header) of a packet whose transport header starts at thoff.
std::vector<uint8_t> WithL4Checksum(std::vector<uint8_t> d, size_t thoff,
                                    size_t field, bool v6) {
  const uint8_t proto = v6 ? d[6] : d[9];
  const size_t len = d.size() - thoff;
  uint32_t ps = v6 ? Pseudo6(d, proto, len) : Pseudo4(d, proto, len);
  if (!v6 && proto == 1) ps = 0;
  Put16(d, thoff + field, 0);
  Put16(d, thoff + field, uint16_t(~Sum(d, thoff, d.size(), ps)));
  return d;
}

bool Ip4HeaderOk(const std::vector<uint8_t>& d) {
  return Sum(d, 0, 20) == 0xffff;
}

bool L4Ok(const std::vector<uint8_t>& d, size_t thoff, bool v6) {
  const uint8_t proto = v6 ? d[6] : d[9];
  const size_t len = d.size() - thoff;
  uint32_t ps = v6 ? Pseudo6(d, proto, len) : Pseudo4(d, proto, len);
  if (!v6 && proto == 1) ps = 0;
  return Sum(d, thoff, d.size(), ps) == 0xffff;
}

// ------------------------------------------------------- options and checks

TEST(RejectTarget, SavesTheCanonicalName) {
  EXPECT_EQ(SavedRule(Family::kIPv4, "filter", "INPUT", "-j REJECT"),
            "-A INPUT -j REJECT --reject-with icmp-port-unreachable");
  EXPECT_EQ(SavedRule(Family::kIPv6, "filter", "INPUT", "-j REJECT"),
            "-A INPUT -j REJECT --reject-with icmp6-port-unreachable");
  // Prefixes of names and aliases, in any case, pick the first entry.
  EXPECT_EQ(SavedRule(Family::kIPv4, "filter", "INPUT",
                      "-j REJECT --reject-with ICMP-HOST"),
            "-A INPUT -j REJECT --reject-with icmp-host-unreachable");
  EXPECT_EQ(SavedRule(Family::kIPv4, "filter", "INPUT",
                      "-j REJECT --reject-with admin-prohib"),
            "-A INPUT -j REJECT --reject-with icmp-admin-prohibited");
  EXPECT_EQ(SavedRule(Family::kIPv4, "filter", "INPUT",
                      "-p tcp -j REJECT --reject-with tcp"),
            "-A INPUT -p tcp -j REJECT --reject-with tcp-reset");
  EXPECT_EQ(SavedRule(Family::kIPv4, "filter", "INPUT",
                      "-j REJECT --reject-with icmp"),
            "-A INPUT -j REJECT --reject-with icmp-net-unreachable");
  EXPECT_EQ(SavedRule(Family::kIPv6, "filter", "INPUT",
                      "-j REJECT --reject-with port"),
            "-A INPUT -j REJECT --reject-with icmp6-port-unreachable");
  EXPECT_EQ(SavedRule(Family::kIPv6, "filter", "INPUT",
                      "-j REJECT --reject-with adm"),
            "-A INPUT -j REJECT --reject-with icmp6-adm-prohibited");
}

TEST(RejectTarget, ParserRefusals) {
  EXPECT_EQ(Stage(Family::kIPv4, "filter", "INPUT",
                  "-j REJECT --reject-with echo-reply"),
            2);
  EXPECT_EQ(Stage(Family::kIPv4, "filter", "INPUT",
                  "-j REJECT --reject-with icmp-port-unreachablex"),
            2);
  EXPECT_EQ(Stage(Family::kIPv6, "filter", "INPUT",
                  "-j REJECT --reject-with icmp-port-unreachable"),
            2);
  EXPECT_EQ(Stage(Family::kIPv4, "filter", "INPUT",
                  "-j REJECT --reject-with tcp-reset --reject-with tcp-reset"),
            2);
  EXPECT_EQ(Stage(Family::kIPv4, "filter", "INPUT", "-j REJECT --reject-with"),
            2);
}

TEST(RejectTarget, KernelChecks) {
  for (Family f : {Family::kIPv4, Family::kIPv6}) {
    EXPECT_EQ(Stage(f, "mangle", "INPUT", "-j REJECT"), 1);
    EXPECT_EQ(Stage(f, "raw", "PREROUTING", "-j REJECT"), 1);
    EXPECT_EQ(Stage(f, "filter", "FORWARD", "-j REJECT"), 0);
    EXPECT_EQ(Stage(f, "filter", "OUTPUT", "-j REJECT"), 0);
    EXPECT_EQ(Stage(f, "filter", "INPUT", "-j REJECT --reject-with tcp-reset"),
              1);
    EXPECT_EQ(
        Stage(f, "filter", "INPUT", "-p udp -j REJECT --reject-with tcp-reset"),
        1);
    EXPECT_EQ(Stage(f, "filter", "INPUT",
                    "! -p tcp -j REJECT --reject-with tcp-reset"),
              1);
    EXPECT_EQ(
        Stage(f, "filter", "INPUT", "-p tcp -j REJECT --reject-with tcp-reset"),
        0);
  }
}

// ---------------------------------------------------------------- builders

TEST(TcpResetV4, AnswersASynWithRstAck) {
  auto syn = WithL4Checksum(Ip4(6, Tcp(1000, 0, 0x02, 4)), 20, 16, false);
  auto r = TcpResetV4(syn);
  ASSERT_EQ(r.size(), 40u);
  EXPECT_EQ(r[0], 0x45);
  EXPECT_EQ(r[1], 0);              // TOS 0
  EXPECT_EQ(Get16(r, 2), 40);      // total length
  EXPECT_EQ(Get16(r, 4), 0);       // ID 0
  EXPECT_EQ(Get16(r, 6), 0x4000);  // DF
  EXPECT_EQ(r[8], 64);             // ip_default_ttl
  EXPECT_EQ(r[9], 6);
  EXPECT_TRUE(Ip4HeaderOk(r));
  EXPECT_EQ(Get32(r, 12), Get32(syn, 16));  // addresses swapped
  EXPECT_EQ(Get32(r, 16), Get32(syn, 12));
  EXPECT_EQ(Get16(r, 20), 80);  // ports swapped
  EXPECT_EQ(Get16(r, 22), 40000);
  EXPECT_EQ(Get32(r, 24), 0u);  // seq 0
  // RFC 793: acknowledge SYN (1) and the 4 data bytes.
  EXPECT_EQ(Get32(r, 28), 1005u);
  EXPECT_EQ(r[32], 0x50);
  EXPECT_EQ(r[33], 0x14);  // RST|ACK
  EXPECT_EQ(Get16(r, 34), 0);
  EXPECT_EQ(Get16(r, 38), 0);
  EXPECT_TRUE(L4Ok(r, 20, false));
}

TEST(TcpResetV4, AnswersAnAckWithItsAckNumber) {
  auto seg = WithL4Checksum(Ip4(6, Tcp(5, 777777, 0x18, 9)), 20, 16, false);
  auto r = TcpResetV4(seg);
  ASSERT_EQ(r.size(), 40u);
  EXPECT_EQ(Get32(r, 24), 777777u);
  EXPECT_EQ(Get32(r, 28), 0u);
  EXPECT_EQ(r[33], 0x04);  // RST only
  EXPECT_TRUE(L4Ok(r, 20, false));
}

TEST(TcpResetV4, SequenceWrapsAndFinCounts) {
  auto seg =
      WithL4Checksum(Ip4(6, Tcp(0xfffffff0, 0, 0x03, 20)), 20, 16, false);
  auto r = TcpResetV4(seg);
  ASSERT_EQ(r.size(), 40u);
  EXPECT_EQ(Get32(r, 28), 6u);  // 0xfffffff0 + SYN + FIN + 20, mod 2^32
}

TEST(TcpResetV4, Silences) {
  auto ok = WithL4Checksum(Ip4(6, Tcp(1, 0, 0x02)), 20, 16, false);
  ASSERT_FALSE(TcpResetV4(ok).empty());
  auto rst = WithL4Checksum(Ip4(6, Tcp(1, 0, 0x04)), 20, 16, false);
  EXPECT_TRUE(TcpResetV4(rst).empty());
  auto bad = ok;
  bad[36] ^= 1;
  EXPECT_TRUE(TcpResetV4(bad).empty());
  auto later =
      WithL4Checksum(Ip4(6, Tcp(1, 0, 0x02), 0, 0x0003), 20, 16, false);
  EXPECT_TRUE(TcpResetV4(later).empty());
  auto first =
      WithL4Checksum(Ip4(6, Tcp(1, 0, 0x02), 0, 0x2000), 20, 16, false);
  EXPECT_FALSE(TcpResetV4(first).empty());
  auto udp = Ip4(17, std::vector<uint8_t>(8, 0));
  EXPECT_TRUE(TcpResetV4(udp).empty());
  auto cut = ok;
  cut.resize(38);
  EXPECT_TRUE(TcpResetV4(cut).empty());
}

TEST(WithPartialTcpChecksum, IsThePseudoHeaderSum) {
  // A reset from 10.21.207.65 to 10.21.207.254 as an ICMP error quoted it
  // before it left the host (kernel-checked: random kernel-diff seed 6456).
  auto syn = WithL4Checksum(
      Ip4(6, Tcp(1000, 0, 0x02), 0, 0x4000, "10.21.207.254", "10.21.207.65"),
      20, 16, false);
  std::vector<uint8_t> rst = TcpResetV4(syn);
  ASSERT_EQ(rst.size(), 40u);
  EXPECT_EQ(Get16(WithPartialTcpChecksum(rst), 36), 0xb384);
  std::vector<uint8_t> udp(8, 0);
  EXPECT_EQ(WithPartialTcpChecksum(Ip4(17, udp)), Ip4(17, udp));
}

TEST(IcmpUnreachV4, QuotesThePacket) {
  std::vector<uint8_t> udp(13, 'q');
  Put16(udp, 4, 13);
  auto pkt = WithL4Checksum(Ip4(17, udp, 0xb8), 20, 6, false);
  auto r = IcmpUnreachV4(pkt, 3, Ip("10.0.0.1"));
  ASSERT_EQ(r.size(), 28 + pkt.size());
  // Precedence "internetwork control" over the packet's TOS bits.
  EXPECT_EQ(r[1], 0xd8);
  EXPECT_EQ(Get16(r, 2), r.size());
  EXPECT_EQ(Get16(r, 6), 0);  // no DF
  EXPECT_EQ(r[8], 64);
  EXPECT_EQ(r[9], 1);
  EXPECT_TRUE(Ip4HeaderOk(r));
  EXPECT_EQ(Get32(r, 12), Get32(pkt, 16));
  EXPECT_EQ(Get32(r, 16), Get32(pkt, 12));
  EXPECT_EQ(r[20], 3);
  EXPECT_EQ(r[21], 3);
  EXPECT_EQ(Get32(r, 24), 0u);
  EXPECT_TRUE(std::equal(pkt.begin(), pkt.end(), r.begin() + 28));
  EXPECT_TRUE(L4Ok(r, 20, false));
}

TEST(IcmpUnreachV4, QuoteStopsAt576Bytes) {
  std::vector<uint8_t> udp(1000, 7);
  Put16(udp, 4, 1000);
  auto pkt = WithL4Checksum(Ip4(17, udp), 20, 6, false);
  auto r = IcmpUnreachV4(pkt, 3, Ip("10.0.0.1"));
  ASSERT_EQ(r.size(), 576u);
  auto small = IcmpUnreachV4(pkt, 3, Ip("10.0.0.1"), 300);
  EXPECT_EQ(small.size(), 300u);
}

TEST(IcmpUnreachV4, Silences) {
  auto icmp = [](uint8_t type) {
    std::vector<uint8_t> m(8, 0);
    m[0] = type;
    return WithL4Checksum(Ip4(1, m), 20, 2, false);
  };
  EXPECT_FALSE(IcmpUnreachV4(icmp(8), 3, Ip("10.0.0.1")).empty());
  EXPECT_FALSE(IcmpUnreachV4(icmp(13), 3, Ip("10.0.0.1")).empty());
  for (uint8_t t : {3, 4, 5, 11, 12, 9, 19, 50})
    EXPECT_TRUE(IcmpUnreachV4(icmp(t), 3, Ip("10.0.0.1")).empty()) << int(t);
  auto bad = icmp(8);
  bad[22] ^= 1;
  EXPECT_TRUE(IcmpUnreachV4(bad, 3, Ip("10.0.0.1")).empty());
  // UDP checksum 0 means "none": nothing to verify.
  std::vector<uint8_t> udp(8, 0);
  Put16(udp, 4, 8);
  EXPECT_FALSE(IcmpUnreachV4(Ip4(17, udp), 3, Ip("10.0.0.1")).empty());
  // An unknown protocol's payload is summed like a checksum.
  EXPECT_TRUE(IcmpUnreachV4(Ip4(99, {0, 1, 2, 3}), 2, Ip("10.0.0.1")).empty());
  EXPECT_FALSE(
      IcmpUnreachV4(Ip4(99, {0xff, 0xff, 0xff, 0xff}), 2, Ip("10.0.0.1"))
          .empty());
  // nf_ip_checksum sums from the IPv4 header, whose valid checksum adds
  // -0: a payload of zeros (+0) passes, as does an empty one. Kernel-checked
  // (random kernel-diff seed 3289: a 2-byte ICMP header 00 00 REJECTed).
  EXPECT_FALSE(IcmpUnreachV4(Ip4(1, {0, 0}), 3, Ip("10.0.0.1")).empty());
  EXPECT_FALSE(IcmpUnreachV4(Ip4(99, {}), 2, Ip("10.0.0.1")).empty());
  EXPECT_TRUE(IcmpUnreachV4(Ip4(1, {0, 1}), 3, Ip("10.0.0.1")).empty());
  // GRE carries no checksum nf_reject verifies.
  EXPECT_FALSE(IcmpUnreachV4(Ip4(47, {0, 1, 2, 3}), 2, Ip("10.0.0.1")).empty());
  EXPECT_TRUE(IcmpUnreachV4(Ip4(47, {0, 1, 2, 3}, 0, 0x0002), 2, Ip("10.0.0.1"))
                  .empty());
}

TEST(IcmpErrorV4, TimeExceededAndFragmentationNeeded) {
  std::vector<uint8_t> udp(8, 0);
  Put16(udp, 4, 8);
  auto pkt = Ip4(17, udp, 0x10);
  auto te = IcmpErrorV4(pkt, 11, 0, 0, Ip("10.0.0.1"));
  ASSERT_EQ(te.size(), 28 + pkt.size());
  EXPECT_EQ(te[1], 0xd0);
  EXPECT_EQ(te[20], 11);
  EXPECT_TRUE(L4Ok(te, 20, false));
  auto fn = IcmpErrorV4(pkt, 3, 4, 1400, Ip("10.0.0.1"));
  ASSERT_FALSE(fn.empty());
  EXPECT_EQ(Get32(fn, 24), 1400u);  // unused 16 bits, then the next-hop MTU
  EXPECT_TRUE(L4Ok(fn, 20, false));
  // icmp_send itself does not look at the payload's checksum.
  pkt[27] ^= 0xff;
  EXPECT_FALSE(IcmpErrorV4(pkt, 11, 0, 0, Ip("10.0.0.1")).empty());
  EXPECT_TRUE(
      IcmpUnreachV4(WithL4Checksum(pkt, 20, 6, false), 3, Ip("10.0.0.1"))
          .size() > 0);
}

TEST(IcmpErrorV6, PacketTooBigMayAnswerMulticast) {
  std::vector<uint8_t> udp(8, 0);
  Put16(udp, 4, 8);
  auto mc = WithL4Checksum(Ip6(17, udp, "2001:db8::2", "ff0e::1"), 40, 6, true);
  auto ptb = IcmpErrorV6(mc, 2, 0, 1280, Ip("2001:db8::1"));
  ASSERT_FALSE(ptb.empty());
  EXPECT_EQ(Get32(ptb, 44), 1280u);
  EXPECT_TRUE(L4Ok(ptb, 40, true));
  EXPECT_TRUE(IcmpErrorV6(mc, 3, 0, 0, Ip("2001:db8::1")).empty());
}

TEST(TcpResetV6, AnswersASyn) {
  auto syn = WithL4Checksum(Ip6(6, Tcp(1000, 0, 0x02, 3)), 40, 16, true);
  auto r = TcpResetV6(syn);
  ASSERT_EQ(r.size(), 60u);
  EXPECT_EQ(Get32(r, 0), 0x60000000u);  // no traffic class, no flow label
  EXPECT_EQ(Get16(r, 4), 20);
  EXPECT_EQ(r[6], 6);
  EXPECT_EQ(r[7], 64);
  EXPECT_TRUE(std::equal(r.begin() + 8, r.begin() + 24, syn.begin() + 24));
  EXPECT_TRUE(std::equal(r.begin() + 24, r.begin() + 40, syn.begin() + 8));
  EXPECT_EQ(Get32(r, 48), 1004u);
  EXPECT_EQ(r[53], 0x14);
  EXPECT_TRUE(L4Ok(r, 40, true));
}

TEST(TcpResetV6, SkipsExtensionHeadersAndRefusesNonUnicast) {
  std::vector<uint8_t> hbh = {60, 0, 1, 4, 0, 0, 0, 0};
  std::vector<uint8_t> dst = {6, 0, 1, 4, 0, 0, 0, 0};
  std::vector<uint8_t> payload = hbh;
  payload.insert(payload.end(), dst.begin(), dst.end());
  auto tcp = Tcp(7, 0, 0x02);
  payload.insert(payload.end(), tcp.begin(), tcp.end());
  auto pkt = WithL4Checksum(Ip6(6, payload), 56, 16, true);
  pkt[6] = 0;  // the checksum above was taken for TCP
  auto r = TcpResetV6(pkt);
  ASSERT_EQ(r.size(), 60u);
  EXPECT_EQ(Get32(r, 48), 8u);
  auto mc = WithL4Checksum(Ip6(6, Tcp(1, 0, 2), "2001:db8::2", "ff02::1"), 40,
                           16, true);
  EXPECT_TRUE(TcpResetV6(mc).empty());
  auto mapped = WithL4Checksum(
      Ip6(6, Tcp(1, 0, 2), "::ffff:10.0.0.2", "2001:db8::1"), 40, 16, true);
  EXPECT_TRUE(TcpResetV6(mapped).empty());
}

TEST(IcmpUnreachV6, QuotesUpToTheMinimumMtu) {
  std::vector<uint8_t> udp(2000, 1);
  Put16(udp, 4, 2000);
  auto pkt = WithL4Checksum(Ip6(17, udp), 40, 6, true);
  auto r = IcmpUnreachV6(pkt, 4, Ip("2001:db8::1"));
  ASSERT_EQ(r.size(), 1280u);
  EXPECT_EQ(Get16(r, 4), 1240);
  EXPECT_EQ(r[6], 58);
  EXPECT_EQ(r[40], 1);
  EXPECT_EQ(r[41], 4);
  EXPECT_TRUE(std::equal(r.begin() + 48, r.end(), pkt.begin()));
  EXPECT_TRUE(L4Ok(r, 40, true));
}

TEST(IcmpUnreachV6, Silences) {
  auto icmp6 = [](uint8_t type, const char* dst = "2001:db8::1") {
    std::vector<uint8_t> m(8, 0);
    m[0] = type;
    return WithL4Checksum(Ip6(58, m, "2001:db8::2", dst), 40, 2, true);
  };
  const Addr src = Ip("2001:db8::1");
  EXPECT_FALSE(IcmpUnreachV6(icmp6(128), 4, src).empty());
  EXPECT_TRUE(IcmpUnreachV6(icmp6(1), 4, src).empty());
  EXPECT_TRUE(IcmpUnreachV6(icmp6(127), 4, src).empty());
  EXPECT_TRUE(IcmpUnreachV6(icmp6(128, "ff02::1"), 4, src).empty());
  auto nonext = Ip6(59, {});
  EXPECT_TRUE(IcmpUnreachV6(nonext, 4, src).empty());
  auto bad = icmp6(128);
  bad[43] ^= 1;
  EXPECT_TRUE(IcmpUnreachV6(bad, 4, src).empty());
  std::vector<uint8_t> udp(8, 0);
  Put16(udp, 4, 8);
  EXPECT_FALSE(IcmpUnreachV6(Ip6(17, udp), 4, src).empty());
  auto any = WithL4Checksum(Ip6(17, udp, "::", "2001:db8::1"), 40, 6, true);
  EXPECT_TRUE(IcmpUnreachV6(any, 4, src).empty());
}

// --------------------------------------------------------- the kernel's own

// Rejected replays one recorded case through the rule's target on the
// fixture host, as the hook the rule's chain belongs to sees the packet.
struct Replayed {
  std::vector<Packet> sent;
};

Replayed Replay(const nlohmann::json& c) {
  const bool v6 = c["family"] == "ipv6";
  const Family f = v6 ? Family::kIPv6 : Family::kIPv4;
  const std::string rule = c["rules"]["filter"][0];
  const std::string chain = rule.substr(0, rule.find(' '));
  OneRule r = LoadRule(f, "filter", chain, rule.substr(chain.size() + 1));
  static const FixtureHost host;
  HookState st;
  st.family = f;
  st.host = &host;
  st.hook = chain == "INPUT"     ? Hook::kInput
            : chain == "FORWARD" ? Hook::kForward
                                 : Hook::kOutput;
  Packet pkt;
  pkt.family = f;
  pkt.data = FromHex(c["packet"]);
  const std::string dst_mac = c.value("dst_mac", "");
  if (dst_mac.rfind("ff:ff", 0) == 0) pkt.pkt_type = PktType::kBroadcast;
  if (dst_mac.rfind("33:33", 0) == 0) pkt.pkt_type = PktType::kMulticast;
  if (!c.value("local", false)) st.in = host.FindInterface(c["in"]);
  if (st.hook == Hook::kForward) {
    // ip_forward has already spent one TTL / hop.
    if (v6)
      pkt.data[7]--;
    else
      DecreaseTtl(pkt.data.data());
  }
  RecordingServices svc;
  XtParams p;
  p.skb = &pkt;
  p.state = &st;
  p.svc = &svc;
  EXPECT_EQ(r.target->Run(p), Verdict::kDrop);
  return {std::move(svc.sent)};
}

TEST(RejectTarget, MatchesTheKernelsReplies) {
  int replayed = 0;
  for (const auto& c : FixtureCases()) {
    const auto& rules = c["rules"];
    if (!rules.contains("filter") ||
        std::string(rules["filter"][0]).find("REJECT") == std::string::npos)
      continue;
    ++replayed;
    SCOPED_TRACE(std::string(c["name"]));
    Replayed got = Replay(c);
    const auto& want = c["replies"];
    ASSERT_EQ(got.sent.size(), want.size());
    if (want.empty()) continue;
    std::vector<uint8_t> k = FromHex(want[0]["hex"]);
    std::vector<uint8_t> ours = got.sent[0].data;
    ASSERT_EQ(ours.size(), k.size());
    const bool v6 = c["family"] == "ipv6";
    if (!v6 && ours[9] == 1) {
      // The kernel picks the ID at random; the header checksum follows it.
      EXPECT_TRUE(Ip4HeaderOk(ours));
      for (int i : {4, 5, 10, 11}) ours[i] = k[i] = 0;
    } else if (!v6 && ours[9] == 6) {
      // The capture holds the kernel's partial (offload) TCP checksum: the
      // pseudo header's sum; ours is complete.
      EXPECT_TRUE(L4Ok(ours, 20, false));
      EXPECT_EQ(Get16(k, 36), Sum(k, 0, 0, Pseudo4(k, 6, 20)));
      for (int i : {36, 37}) ours[i] = k[i] = 0;
    } else if (v6 && ours[6] == 58) {
      // An automatic flow label: a hash with a boot-time key.
      ours[1] &= 0xf0;
      k[1] &= 0xf0;
      for (int i : {2, 3}) ours[i] = k[i] = 0;
    }
    EXPECT_EQ(ToHex(ours), ToHex(k));
  }
  EXPECT_GE(replayed, 60) << "tests/fixtures/targets/kernel_cases.json";
}

// --------------------------------------------------------- host conditions

struct RunResult {
  RecordingServices svc;
  Verdict v;
};

void RunReject(RunResult& out, const std::string& rule, Packet pkt,
               Hook hook = Hook::kInput, const char* in = "a0") {
  static const FixtureHost host;
  OneRule r = LoadRule(pkt.family, "filter", HookName(hook), rule);
  HookState st;
  st.hook = hook;
  st.family = pkt.family;
  st.host = &host;
  st.in = in ? host.FindInterface(in) : nullptr;
  st.now = 100;
  XtParams p;
  p.skb = &pkt;
  p.state = &st;
  p.svc = &out.svc;
  out.v = r.target->Run(p);
}

Packet P(std::vector<uint8_t> d, Family f = Family::kIPv4) {
  Packet p;
  p.family = f;
  p.data = std::move(d);
  return p;
}

TEST(RejectTarget, BroadcastAndOtherHostsGetNothing) {
  std::vector<uint8_t> udp(8, 0);
  Put16(udp, 4, 8);
  RunResult a;
  RunReject(a, "-j REJECT", P(Ip4(17, udp, 0, 0, "10.0.0.2", "10.0.0.255")));
  EXPECT_EQ(a.v, Verdict::kDrop);
  EXPECT_TRUE(a.svc.sent.empty());
  Packet b = P(Ip4(17, udp));
  b.pkt_type = PktType::kMulticast;
  RunResult rb;
  RunReject(rb, "-j REJECT", b);
  EXPECT_TRUE(rb.svc.sent.empty());
  // A RST ignores the link-layer type but not the broadcast route.
  auto syn = WithL4Checksum(Ip4(6, Tcp(1, 0, 2)), 20, 16, false);
  Packet c = P(syn);
  c.pkt_type = PktType::kBroadcast;
  RunResult rc;
  RunReject(rc, "-p tcp -j REJECT --reject-with tcp-reset", c);
  EXPECT_EQ(rc.svc.sent.size(), 1u);
  auto bsyn = WithL4Checksum(
      Ip4(6, Tcp(1, 0, 2), 0, 0, "10.0.0.2", "224.0.0.9"), 20, 16, false);
  RunResult rd;
  RunReject(rd, "-p tcp -j REJECT --reject-with tcp-reset", P(bsyn));
  EXPECT_TRUE(rd.svc.sent.empty());
}

TEST(RejectTarget, AsksTheRateLimiterBeforeSending) {
  std::vector<uint8_t> udp(8, 0);
  Put16(udp, 4, 8);
  RunResult a;
  a.svc.allow_icmp = false;
  RunReject(a, "-j REJECT", P(Ip4(17, udp)));
  EXPECT_EQ(a.svc.icmp_asked, 1);
  EXPECT_TRUE(a.svc.sent.empty());
  // A reset is no ICMP error: never limited.
  RunResult b;
  b.svc.allow_icmp = false;
  RunReject(b, "-p tcp -j REJECT --reject-with tcp-reset",
            P(WithL4Checksum(Ip4(6, Tcp(1, 0, 2)), 20, 16, false)));
  EXPECT_EQ(b.svc.icmp_asked, 0);
  EXPECT_EQ(b.svc.sent.size(), 1u);
}

TEST(RejectTarget, NoRouteBackNoError) {
  std::vector<uint8_t> udp(8, 0);
  Put16(udp, 4, 8);
  RunResult a;
  RunReject(a, "-j REJECT", P(Ip4(17, udp, 0, 0, "192.0.2.7", "10.0.0.1")));
  EXPECT_TRUE(a.svc.sent.empty());
  RunResult b;
  auto syn6 =
      WithL4Checksum(Ip6(6, Tcp(1, 0, 2), "2001:db8:9::2"), 40, 16, true);
  RunReject(b, "-p tcp -j REJECT --reject-with tcp-reset",
            P(syn6, Family::kIPv6));
  EXPECT_TRUE(b.svc.sent.empty());
}

TEST(RejectTarget, ResetClosesAConfirmedConnection) {
  Conn ct;
  ct.tuple[0].proto = 6;
  ct.status = kIpsConfirmed | kIpsAssured;
  ct.tcp().state = 3;  // ESTABLISHED
  ct.expires = 100 + 432000;
  Packet pkt = P(WithL4Checksum(Ip4(6, Tcp(1, 2, 0x18, 1)), 20, 16, false));
  pkt.ct = &ct;
  pkt.ctinfo = CtInfo::kEstablished;
  RunResult a;
  RunReject(a, "-p tcp -j REJECT --reject-with tcp-reset", pkt);
  ASSERT_EQ(a.svc.sent.size(), 1u);
  EXPECT_EQ(ct.tcp().state, 8);  // CLOSE
  EXPECT_DOUBLE_EQ(ct.expires, 110);
  // Not confirmed yet (the first SYN): left alone.
  Conn fresh;
  fresh.tuple[0].proto = 6;
  fresh.tcp().state = 1;
  fresh.expires = 220;
  Packet syn = P(WithL4Checksum(Ip4(6, Tcp(1, 0, 2)), 20, 16, false));
  syn.ct = &fresh;
  syn.ctinfo = CtInfo::kNew;
  RunResult b;
  RunReject(b, "-p tcp -j REJECT --reject-with tcp-reset", syn);
  EXPECT_EQ(fresh.tcp().state, 1);
  EXPECT_DOUBLE_EQ(fresh.expires, 220);
}

// ------------------------------------------------------------ rate limiter

TEST(IcmpRateLimiter, PeerBurstThenOnePerSecond) {
  IcmpRateLimiter l;
  const Addr peer = Ip("10.0.0.2");
  int allowed = 0;
  for (int i = 0; i < 10; ++i)
    allowed += l.Allow(Family::kIPv4, peer, 3, 3, 5.0, false, false);
  EXPECT_EQ(allowed, 6);
  EXPECT_FALSE(l.Allow(Family::kIPv4, peer, 3, 3, 5.5, false, false));
  EXPECT_TRUE(l.Allow(Family::kIPv4, peer, 3, 3, 6.0, false, false));
  EXPECT_FALSE(l.Allow(Family::kIPv4, peer, 3, 3, 6.0, false, false));
  // Another peer has its own bucket.
  EXPECT_TRUE(l.Allow(Family::kIPv4, Ip("10.0.0.3"), 3, 3, 6.0, false, false));
}

TEST(IcmpRateLimiter, Exemptions) {
  IcmpRateLimiter l;
  const Addr peer = Ip("10.0.0.2");
  for (int i = 0; i < 20; ++i) {
    EXPECT_TRUE(l.Allow(Family::kIPv4, peer, 3, 4, 1, false, false));  // PMTU
    EXPECT_TRUE(l.Allow(Family::kIPv4, peer, 0, 0, 1, false, false));  // echo
    EXPECT_TRUE(l.Allow(Family::kIPv4, peer, 3, 3, 1, true, false));
    EXPECT_TRUE(l.Allow(Family::kIPv6, Ip("::1"), 1, 4, 1, false, true));
    EXPECT_TRUE(l.Allow(Family::kIPv6, Ip("2001:db8::2"), 2, 0, 1, false,
                        false));  // packet too big
  }
}

TEST(IcmpRateLimiter, WiderIpv6RoutesRefillFaster) {
  IcmpRateLimiter l;
  const Addr peer = Ip("2001:db8::2");
  for (int i = 0; i < 6; ++i)
    EXPECT_TRUE(l.Allow(Family::kIPv6, peer, 1, 4, 1, false, false, 64));
  EXPECT_FALSE(l.Allow(Family::kIPv6, peer, 1, 4, 1.2, false, false, 64));
  // A /64 divides the second by 4.
  EXPECT_TRUE(l.Allow(Family::kIPv6, peer, 1, 4, 1.25, false, false, 64));
}

TEST(IcmpRateLimiter, GlobalBucket) {
  IcmpRateLimiter l;
  int allowed = 0;
  for (int i = 0; i < 100; ++i)
    allowed += l.Allow(Family::kIPv4, Addr::FromV4(0x0a000000 + i), 3, 3, 1,
                       false, false);
  EXPECT_EQ(allowed, 50);
  EXPECT_TRUE(l.Allow(Family::kIPv4, Ip("10.9.9.9"), 3, 3, 1.05, false, false));
}

}  // namespace
}  // namespace netfence::ext::reject_test
