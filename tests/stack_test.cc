// The host's IP path (core/stack) on small hand-made hosts: each
// expectation is what the kernel (6.18) did with the same host, rules and
// packets in the kernel-differential suite (tests/kernel/), pinned here so
// that it holds without the kernel.
#include "core/stack.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "core/addr.h"
#include "core/checksum.h"
#include "core/host_model.h"
#include "core/restore.h"
#include "io/host_json.h"
#include "io/packets_json.h"
#include "io/system_resolver.h"

namespace netfence::core {
namespace {

// ---- hosts ---------------------------------------------------------------

// MaskPrefix keeps the first len bits of a.
Addr Prefix(Addr a, unsigned len) {
  for (unsigned i = 0; i < 16; ++i) {
    const unsigned keep = len > i * 8 ? std::min(8u, len - i * 8) : 0;
    a.b[i] &= uint8_t(keep ? 0xff << (8 - keep) : 0);
  }
  return a;
}

struct Dev {
  std::string name;
  unsigned mtu;
  std::vector<std::pair<std::string, unsigned>> addrs;  // address, prefix
};

// HostJson writes a host file as `ip -j` prints it (extra routes as JSON
// objects, the kernel's own routes for the addresses included).
std::string HostJson(const std::vector<Dev>& devs,
                     const std::vector<std::string>& routes4,
                     const std::vector<std::string>& routes6) {
  std::string addrs =
      R"([{"ifindex":1,"ifname":"lo","flags":["LOOPBACK","UP"],"mtu":65536,)"
      R"("link_type":"loopback","address":"00:00:00:00:00:00","addr_info":[)"
      R"({"family":"inet","local":"127.0.0.1","prefixlen":8,"scope":"host"},)"
      R"({"family":"inet6","local":"::1","prefixlen":128,"scope":"host"}]})";
  std::string r4 =
      R"({"type":"local","dst":"127.0.0.0/8","dev":"lo","table":"local",)"
      R"("protocol":"kernel","scope":"host","prefsrc":"127.0.0.1"},)"
      R"({"type":"local","dst":"127.0.0.1","dev":"lo","table":"local",)"
      R"("protocol":"kernel","scope":"host","prefsrc":"127.0.0.1"})";
  std::string r6 =
      R"({"type":"local","dst":"::1","dev":"lo","table":"local",)"
      R"("protocol":"kernel","metric":0})";
  int index = 2;
  for (const Dev& d : devs) {
    addrs += ",{\"ifindex\":" + std::to_string(index) + ",\"ifname\":\"" +
             d.name + "\",\"flags\":[\"BROADCAST\",\"MULTICAST\",\"UP\"],"
             "\"mtu\":" + std::to_string(d.mtu) +
             ",\"link_type\":\"ether\",\"address\":\"02:00:00:00:0" +
             std::to_string(index) + ":01\",\"addr_info\":[";
    bool first = true;
    for (const auto& [a, plen] : d.addrs) {
      const bool v6 = a.find(':') != std::string::npos;
      const std::string scope = a.rfind("fe80", 0) == 0 ? "link" : "global";
      addrs += std::string(first ? "" : ",") + "{\"family\":\"" +
               (v6 ? "inet6" : "inet") + "\",\"local\":\"" + a +
               "\",\"prefixlen\":" + std::to_string(plen) + ",\"scope\":\"" +
               scope + "\"}";
      first = false;
      const Family f = v6 ? Family::kIPv6 : Family::kIPv4;
      const Addr net = Prefix(*ParseNumeric(f, a), plen);
      const std::string prefix =
          FormatAddr(f, net) + "/" + std::to_string(plen);
      if (v6) {
        r6 += ",{\"type\":\"local\",\"dst\":\"" + a + "\",\"dev\":\"" +
              d.name + "\",\"table\":\"local\",\"protocol\":\"kernel\","
              "\"metric\":0},{\"dst\":\"" + prefix + "\",\"dev\":\"" + d.name +
              "\",\"protocol\":\"kernel\",\"metric\":256}";
      } else {
        r4 += ",{\"type\":\"local\",\"dst\":\"" + a + "\",\"dev\":\"" +
              d.name + "\",\"table\":\"local\",\"protocol\":\"kernel\","
              "\"scope\":\"host\",\"prefsrc\":\"" + a + "\"},{\"dst\":\"" +
              prefix + "\",\"dev\":\"" + d.name +
              "\",\"protocol\":\"kernel\",\"scope\":\"link\",\"prefsrc\":\"" +
              a + "\"}";
      }
    }
    addrs += "]}";
    ++index;
  }
  addrs += "]";
  for (const std::string& r : routes4) r4 += "," + r;
  for (const std::string& r : routes6) r6 += "," + r;
  return "{\"addrs\":" + addrs + ",\"routes\":[" + r4 + "],\"routes6\":[" +
         r6 + "],\"forwarding\":true}";
}

// ---- packets -------------------------------------------------------------

std::string Hex(const std::vector<uint8_t>& b) {
  static const char* d = "0123456789abcdef";
  std::string s;
  for (uint8_t x : b) s += {d[x >> 4], d[x & 15]};
  return s;
}

void Put(std::vector<uint8_t>& b, size_t off, const Addr& a, size_t n) {
  std::copy(a.b.begin(), a.b.begin() + long(n), b.begin() + long(off));
}

// V4 is an IPv4 packet with a valid header checksum.
std::vector<uint8_t> V4(const std::string& src, const std::string& dst,
                        uint8_t proto, const std::vector<uint8_t>& payload,
                        uint8_t ttl = 64, uint16_t id = 1,
                        uint16_t frag = 0x4000) {
  std::vector<uint8_t> p(20);
  p[0] = 0x45;
  Store16(p.data() + 2, uint16_t(20 + payload.size()));
  Store16(p.data() + 4, id);
  Store16(p.data() + 6, frag);
  p[8] = ttl;
  p[9] = proto;
  Put(p, 12, *ParseNumeric(Family::kIPv4, src), 4);
  Put(p, 16, *ParseNumeric(Family::kIPv4, dst), 4);
  Store16(p.data() + 10, IpChecksum(p.data(), 20));
  p.insert(p.end(), payload.begin(), payload.end());
  return p;
}

// V6 is an IPv6 packet.
std::vector<uint8_t> V6(const std::string& src, const std::string& dst,
                        uint8_t nh, const std::vector<uint8_t>& payload,
                        uint8_t hl = 64) {
  std::vector<uint8_t> p(40);
  p[0] = 0x60;
  Store16(p.data() + 4, uint16_t(payload.size()));
  p[6] = nh;
  p[7] = hl;
  Put(p, 8, *ParseNumeric(Family::kIPv6, src), 16);
  Put(p, 24, *ParseNumeric(Family::kIPv6, dst), 16);
  p.insert(p.end(), payload.begin(), payload.end());
  return p;
}

// IcmpPortUnreach is an ICMP destination-unreachable error quoting a small
// UDP datagram (an error the host itself never answers).
std::vector<uint8_t> IcmpPortUnreach(const std::string& quoted_src,
                                     const std::string& quoted_dst,
                                     size_t pad = 0) {
  std::vector<uint8_t> udp = {0x82, 0x9a, 0x00, 0x35, 0x00, 0x08, 0x00, 0x00};
  std::vector<uint8_t> icmp = {3, 3, 0, 0, 0, 0, 0, 0};
  std::vector<uint8_t> inner = V4(quoted_src, quoted_dst, 17, udp, 1, 1, 0);
  icmp.insert(icmp.end(), inner.begin(), inner.end());
  icmp.resize(icmp.size() + pad, 0x42);
  Store16(icmp.data() + 2, CsumFold(CsumPartial(icmp.data(), icmp.size(), 0)));
  return icmp;
}

// ---- the stack -----------------------------------------------------------

class Stack {
 public:
  Stack(const std::string& host_json, const std::string& rules4,
        const std::string& rules6 = "") {
    host_ = std::make_unique<HostModel>(io::ParseHostJson(host_json, "host"));
    stack_ = std::make_unique<NetStack>(*host_, StackOptions{});
    if (!rules4.empty()) stack_->SetRules(Family::kIPv4, Load(rules4, Family::kIPv4));
    if (!rules6.empty()) stack_->SetRules(Family::kIPv6, Load(rules6, Family::kIPv6));
  }

  // Run feeds one packets-file line ({"iface": ...} or {"local": true, ...}).
  Outcome Arrive(const std::string& iface, const std::vector<uint8_t>& p) {
    return Run("{\"iface\":\"" + iface + "\",\"hex\":\"" + Hex(p) + "\"}");
  }
  Outcome Local(const std::vector<uint8_t>& p) {
    return Run("{\"local\":true,\"hex\":\"" + Hex(p) + "\"}");
  }

 private:
  Outcome Run(const std::string& line) {
    auto pkts = io::ReadPackets("packets", line + "\n", *host_);
    EXPECT_EQ(pkts.size(), 1u);
    io::InputPacket& ip = pkts.at(0);
    return ip.local ? stack_->Send(std::move(ip.pkt))
                    : stack_->Receive(std::move(ip.pkt), ip.iface);
  }

  static std::unique_ptr<Ruleset> Load(const std::string& text, Family f) {
    static io::SystemResolver resolver;
    RestoreOptions o;
    o.family = f;
    o.resolver = &resolver;
    return Restore(text, o);
  }

  std::unique_ptr<HostModel> host_;
  std::unique_ptr<NetStack> stack_;
};

const std::string kRouter4 = HostJson(
    {{"eth0", 1500, {{"10.0.0.1", 24}}}, {"eth1", 1400, {{"10.1.0.1", 24}}}},
    {}, {});

// ---- forwarding drops --------------------------------------------------------

// ip_forward drops for the TTL the packet has after PREROUTING (here set to
// 1 by the TTL target). icmp_send stays silent about an ICMP error, so
// nothing is emitted, but the packet is still a "ttl" drop, not a routing
// one.
TEST(Stack, ForwardedIcmpErrorWhoseTtlPreroutingExhaustedIsATtlDrop) {
  Stack s(kRouter4,
          "*mangle\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n"
          ":FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
          ":POSTROUTING ACCEPT [0:0]\n-A PREROUTING -j TTL --ttl-set 1\n"
          "COMMIT\n");
  Outcome o = s.Arrive(
      "eth0", V4("10.0.0.2", "10.1.0.2", 1,
                 IcmpPortUnreach("10.1.0.2", "10.0.0.2"), 64, 1, 0));
  EXPECT_FALSE(o.accepted);
  EXPECT_EQ(o.where, "ttl");
  EXPECT_TRUE(o.emitted.empty());
}

// An ICMP error too big for the outgoing device with DF set: ip_forward's
// ip_exceeds_mtu drop, silent (no error about an error).
TEST(Stack, ForwardedIcmpErrorTooBigWithDfIsAnMtuDrop) {
  Stack s(kRouter4, "");
  Outcome o = s.Arrive(
      "eth0", V4("10.0.0.2", "10.1.0.2", 1,
                 IcmpPortUnreach("10.1.0.2", "10.0.0.2", 1500 - 56)));
  EXPECT_FALSE(o.accepted);
  EXPECT_EQ(o.where, "mtu");
  EXPECT_TRUE(o.emitted.empty());
}

// ---- raw sends with ID 0 ---------------------------------------------------

// raw_send_hdrinc gives a packet sent with ID 0 an ID of its own
// (ip_select_ident, socketless: ip_idents_reserve): two fragments sent with
// ID 0 get different IDs and never reassemble together; with the same
// explicit ID they do.
TEST(Stack, LocalFragmentsSentWithIdZeroDoNotReassembleTogether) {
  const std::vector<uint8_t> head = {0x30, 0x39, 0x00, 0x35, 0x00, 0x10,
                                     0x00, 0x00};  // UDP header, 8 of 16
  const std::vector<uint8_t> tail(8, 0x41);
  for (uint16_t id : {0, 0x4242}) {
    Stack s(kRouter4, "");
    Outcome a = s.Local(V4("127.0.0.1", "127.0.0.1", 17, head, 64, id, 0x2000));
    EXPECT_FALSE(a.accepted) << id;
    EXPECT_EQ(a.where, "defrag") << id;
    Outcome b = s.Local(V4("127.0.0.1", "127.0.0.1", 17, tail, 64, id, 0x0001));
    if (id == 0) {
      EXPECT_FALSE(b.accepted);
      EXPECT_EQ(b.where, "defrag");
    } else {
      EXPECT_TRUE(b.accepted) << b.where;
      EXPECT_TRUE(b.to_local);
    }
  }
}

// The chosen ID is written into the packet and flagged unstable; a DF
// packet keeps ID 0 (ip_select_ident_segs), exactly as sent.
TEST(Stack, LocalSendWithIdZeroGetsAnIdUnlessDf) {
  Stack s(kRouter4, "");
  const std::vector<uint8_t> udp = {0x30, 0x39, 0x00, 0x35, 0, 8, 0, 0};
  Outcome df = s.Local(V4("10.1.0.1", "10.1.0.2", 17, udp, 64, 0, 0x4000));
  ASSERT_TRUE(df.accepted) << df.where;
  EXPECT_EQ(Load16(df.data.data() + 4), 0);
  EXPECT_TRUE(df.unstable.empty());
  Outcome nodf = s.Local(V4("10.1.0.1", "10.1.0.2", 17, udp, 64, 0, 0));
  ASSERT_TRUE(nodf.accepted) << nodf.where;
  EXPECT_NE(Load16(nodf.data.data() + 4), 0);
  EXPECT_EQ(IpChecksum(nodf.data.data(), 20), 0);
  EXPECT_EQ(nodf.unstable, (std::vector<size_t>{4, 5, 10, 11}));
}

// ---- REJECT's ICMPv6 source ------------------------------------------------

std::string Router6(const std::string& default_extra) {
  return HostJson(
      {{"eth0", 1500, {{"2001:db8:a::1", 64}, {"fe80::1", 64}}},
       {"eth3", 1500, {{"2001:db8:b::fe", 64}, {"fe80::3", 64}}}},
      {},
      {"{\"dst\":\"default\",\"gateway\":\"2001:db8:a::ffff\",\"dev\":\"eth0\","
       "\"metric\":1024" + default_extra + "}"});
}

const char kRejectForward6[] =
    "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
    "-A FORWARD -j REJECT\nCOMMIT\n";

std::vector<uint8_t> Tcp6FromAfar() {
  std::vector<uint8_t> tcp(20, 0);
  tcp[1] = 80, tcp[3] = 22, tcp[12] = 0x50, tcp[13] = 0x02;
  std::vector<uint8_t> p = V6("2001:db8:beef::7", "2001:db8:a::2", 6, tcp);
  Store16(p.data() + 56,
          CsumFold(CsumPartial(p.data() + 40, 20,
                               PseudoHeaderV6(p.data() + 8, p.data() + 24, 6,
                                              20))));
  return p;
}

// icmp6_send: the route back (default, via eth0) names no prefsrc, so the
// source is ipv6_dev_get_saddr on the device the packet came in on (eth3),
// not the one the error leaves by.
TEST(Stack, Reject6ForwardedErrorTakesItsSourceFromTheInputDevice) {
  Stack s(Router6(""), "", kRejectForward6);
  Outcome o = s.Arrive("eth3", Tcp6FromAfar());
  EXPECT_EQ(o.where, "filter/FORWARD/1");
  ASSERT_EQ(o.emitted.size(), 1u);
  EXPECT_EQ(o.emitted[0].oif, "eth0");
  Addr src;
  std::copy(o.emitted[0].data.begin() + 8, o.emitted[0].data.begin() + 24,
            src.b.begin());
  EXPECT_EQ(FormatAddr(Family::kIPv6, src), "2001:db8:b::fe");
}

// ... unless the route back has a prefsrc of its own
// (icmpv6_rt_has_prefsrc).
TEST(Stack, Reject6ForwardedErrorUsesTheRoutesOwnPrefsrc) {
  Stack s(Router6(",\"prefsrc\":\"2001:db8:a::1\""), "", kRejectForward6);
  Outcome o = s.Arrive("eth3", Tcp6FromAfar());
  ASSERT_EQ(o.emitted.size(), 1u);
  Addr src;
  std::copy(o.emitted[0].data.begin() + 8, o.emitted[0].data.begin() + 24,
            src.b.begin());
  EXPECT_EQ(FormatAddr(Family::kIPv6, src), "2001:db8:a::1");
}

// ---- ip6_forward's source check -------------------------------------------

const char kAcceptForward6[] =
    "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
    "-A FORWARD -j ACCEPT\nCOMMIT\n";

std::vector<uint8_t> Udp6From(const std::string& src) {
  std::vector<uint8_t> udp(8, 0);
  udp[1] = 68, udp[3] = 67, udp[5] = 8;
  std::vector<uint8_t> p = V6(src, "2001:db8:beef::7", 17, udp);
  Store16(p.data() + 46,
          CsumFold(CsumPartial(p.data() + 40, 8,
                               PseudoHeaderV6(p.data() + 8, p.data() + 24, 17,
                                              8))));
  return p;
}

// A source of :: (or link-local) forwarded to another device: dropped by
// ip6_forward before FORWARD (the kernel's answer in the corpus suite).
TEST(Stack, Forward6DropsUnspecifiedAndLinkLocalSourcesBeforeForward) {
  for (const char* src : {"::", "fe80::99"}) {
    Stack s(Router6(""), "", kAcceptForward6);
    Outcome o = s.Arrive("eth3", Udp6From(src));
    EXPECT_EQ(o.where, "route") << src;
    EXPECT_TRUE(o.emitted.empty()) << src;
  }
}

// Out by the device it came in on: the redirect branch, no source check.
TEST(Stack, Forward6SameDeviceDoesNotCheckTheSource) {
  Stack s(Router6(""), "", kAcceptForward6);
  Outcome o = s.Arrive("eth0", Udp6From("::"));
  EXPECT_EQ(o.where, "");
  EXPECT_TRUE(o.accepted);
  EXPECT_EQ(o.oif, "eth0");
}

// A local IPv6 send to :: is routed as one to ::1 (rawv6_sendmsg) and comes
// back to the host with its header unchanged.
TEST(Stack, Local6SendToUnspecifiedIsDeliveredLocally) {
  Stack s(Router6(""), "", kAcceptForward6);
  std::vector<uint8_t> p = Udp6From("::1");
  std::fill(p.begin() + 24, p.begin() + 40, 0);
  Outcome o = s.Local(p);
  EXPECT_EQ(o.where, "");
  EXPECT_TRUE(o.accepted);
  EXPECT_TRUE(o.to_local);
}

// REJECT's icmp_send is silent for a packet whose input route is a
// broadcast one, also when the broadcast address is another device's.
TEST(Stack, RejectIsSilentForAnotherDevicesBroadcastAddress) {
  const std::string host = HostJson(
      {{"eth0", 1500, {{"10.0.0.1", 24}}}, {"eth1", 1500, {{"10.1.0.1", 24}}}},
      {R"({"type":"broadcast","dst":"10.1.0.255","dev":"eth1",)"
       R"("table":"local","protocol":"kernel","scope":"link",)"
       R"("prefsrc":"10.1.0.1"})"},
      {});
  Stack s(host,
          "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n"
          ":OUTPUT ACCEPT [0:0]\n-A INPUT -j REJECT\nCOMMIT\n");
  std::vector<uint8_t> udp(8, 0);
  udp[1] = 53, udp[3] = 53, udp[5] = 8;
  Outcome o = s.Arrive("eth0", V4("10.0.0.9", "10.1.0.255", 17, udp));
  EXPECT_EQ(o.where, "filter/INPUT/1");
  EXPECT_TRUE(o.emitted.empty());
}

// ---- OUTPUT re-routing ---------------------------------------------------

// A TCP reset for a forwarded packet comes from the packet's (foreign)
// destination. When mangle OUTPUT changes its mark, ip_route_me_harder
// routes it again with FLOWI_FLAG_ANYSRC, which accepts that source: the
// reset still leaves (kernel-differential seed 1208).
TEST(Stack, ResetRoutedAgainAfterAMarkChangeKeepsItsForeignSource) {
  const std::string host = HostJson(
      {{"eth0", 1500, {{"10.0.0.1", 24}}}, {"eth1", 1500, {{"10.1.0.1", 24}}}},
      {R"({"dst":"default","gateway":"10.1.0.254","dev":"eth1","flags":[]})"},
      {});
  Stack s(host,
          "*mangle\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n"
          ":FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
          ":POSTROUTING ACCEPT [0:0]\n-A OUTPUT -j MARK --set-mark 0xff00\n"
          "COMMIT\n*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n"
          ":OUTPUT ACCEPT [0:0]\n"
          "-A FORWARD -p tcp -j REJECT --reject-with tcp-reset\nCOMMIT\n");
  std::vector<uint8_t> tcp(20, 0);
  tcp[0] = 0x04, tcp[1] = 0xd2, tcp[2] = 0x02, tcp[3] = 0xad;
  tcp[12] = 0x50, tcp[13] = 0x02;
  std::vector<uint8_t> p = V4("10.0.0.5", "93.184.216.34", 6, tcp);
  Store16(p.data() + 36,
          CsumFold(CsumPartial(p.data() + 20, 20,
                               PseudoHeaderV4(p.data() + 12, p.data() + 16, 6,
                                              20))));
  Outcome o = s.Arrive("eth0", p);
  EXPECT_EQ(o.where, "filter/FORWARD/1");
  ASSERT_EQ(o.emitted.size(), 1u);
  EXPECT_EQ(o.emitted[0].oif, "eth0");
}

}  // namespace
}  // namespace netfence::core
