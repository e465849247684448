// HostModel against hand-built hosts: each expectation is what `ip route
// get` answers in a namespace with the same tables (the kernel-differential
// test tests/kernel/route_diff.py checks the same at scale).
#include "core/host_model.h"

#include <gtest/gtest.h>

#include "core/addr.h"

namespace netfence::core {
namespace {

Addr A(const std::string& s) {
  auto a = ParseNumeric(
      s.find(':') == std::string::npos ? Family::kIPv4 : Family::kIPv6, s);
  EXPECT_TRUE(a.has_value()) << s;
  return a.value_or(Addr{});
}

std::string S(Family f, const Addr& a) { return FormatAddr(f, a); }

// Builder makes HostData the way `ip` would dump a namespace: the kernel's
// local, broadcast and connected routes are added with each address.
class Builder {
 public:
  Builder() {
    Interface lo;
    lo.name = "lo";
    lo.ifindex = 1;
    lo.loopback = true;
    lo.mtu = 65536;
    d_.interfaces.push_back(lo);
    Addr4("lo", "127.0.0.1", 8, kScopeHost);
  }

  Builder& Dev(const std::string& name, unsigned mtu = 1500) {
    Interface i;
    i.name = name;
    i.ifindex = int(d_.interfaces.size()) + 1;
    i.mtu = mtu;
    d_.interfaces.push_back(i);
    return *this;
  }

  int Index(const std::string& name) const {
    for (const Interface& i : d_.interfaces)
      if (i.name == name) return i.ifindex;
    ADD_FAILURE() << "no device " << name;
    return 0;
  }

  Interface& If(const std::string& name) {
    return d_.interfaces[size_t(Index(name) - 1)];
  }

  Builder& Addr4(const std::string& dev, const std::string& local,
                 unsigned plen, uint8_t scope = kScopeUniverse,
                 bool secondary = false) {
    IfAddr x;
    x.local = x.peer = A(local);
    x.prefixlen = plen;
    x.scope = scope;
    x.secondary = secondary;
    If(dev).addrs.push_back(x);
    const uint32_t v = A(local).v4();
    const uint32_t mask = plen ? ~0u << (32 - plen) : 0;
    const int ix = Index(dev);
    if (dev == "lo") {
      Route4(kTableLocal, RouteType::kLocal, "127.0.0.0", 8, ix, "", kScopeHost,
             local, true);
    }
    Route4(kTableLocal, RouteType::kLocal, local, 32, ix, "", kScopeHost, local,
           true);
    if (plen < 31) {
      Route4(kTableLocal, RouteType::kBroadcast,
             S(Family::kIPv4, Addr::FromV4(v | ~mask)), 32, ix, "", kScopeLink,
             local, true);
    }
    if (dev != "lo" && plen < 32 && !secondary) {
      Route4(kTableMain, RouteType::kUnicast,
             S(Family::kIPv4, Addr::FromV4(v & mask)), plen, ix, "", kScopeLink,
             local, true);
    }
    return *this;
  }

  Builder& Addr6(const std::string& dev, const std::string& local,
                 unsigned plen, uint32_t flags = 0) {
    IfAddr x;
    x.family = Family::kIPv6;
    x.local = x.peer = A(local);
    x.prefixlen = plen;
    x.flags = flags;
    If(dev).addrs.push_back(x);
    RouteEntry r = Route6(local, 128, dev, kTableLocal, 0);
    r.type = RouteType::kLocal;
    r.kernel = true;
    d_.routes.push_back(r);
    if (dev != "lo" && plen < 128) {
      Addr net;
      for (unsigned i = 0; i < 16; ++i) {
        const unsigned bits = plen > i * 8 ? std::min(8u, plen - i * 8) : 0;
        net.b[i] = A(local).b[i] & uint8_t(0xff << (8 - bits));
      }
      RouteEntry c = Route6(S(Family::kIPv6, net), plen, dev, kTableMain, 256);
      c.kernel = true;
      d_.routes.push_back(c);
    }
    return *this;
  }

  // Multicast6 adds the ff00::/8 route the kernel gives an IPv6 device.
  Builder& Multicast6(const std::string& dev) {
    RouteEntry r = Route6("ff00::", 8, dev, kTableLocal, 256);
    r.type = RouteType::kMulticast;
    d_.routes.push_back(r);
    return *this;
  }

  Builder& Route4(uint32_t table, RouteType type, const std::string& dst,
                  unsigned len, int ifindex, const std::string& gw,
                  uint8_t scope = kScopeUniverse, const std::string& src = "",
                  bool kernel = false) {
    RouteEntry r;
    r.table = table;
    r.type = type;
    r.dst = A(dst);
    r.dst_len = len;
    r.scope = scope;
    r.kernel = kernel;
    if (!src.empty()) r.has_prefsrc = true, r.prefsrc = A(src);
    if (ifindex) {
      NextHop nh;
      nh.ifindex = ifindex;
      if (!gw.empty()) nh.has_gateway = true, nh.gateway = A(gw);
      r.nexthops.push_back(nh);
    }
    d_.routes.push_back(r);
    return *this;
  }

  Builder& Via(const std::string& dst, unsigned len, const std::string& gw,
               const std::string& dev, uint32_t table = kTableMain) {
    return Route4(table, RouteType::kUnicast, dst, len, Index(dev), gw);
  }

  Builder& Reject(RouteType t, const std::string& dst, unsigned len,
                  uint32_t table = kTableMain) {
    return Route4(table, t, dst, len, 0, "");
  }

  RouteEntry Route6(const std::string& dst, unsigned len,
                    const std::string& dev, uint32_t table, uint32_t metric,
                    const std::string& gw = "") {
    RouteEntry r;
    r.family = Family::kIPv6;
    r.table = table;
    r.dst = A(dst);
    r.dst_len = len;
    r.metric = metric;
    NextHop nh;
    nh.ifindex = Index(dev);
    if (!gw.empty()) nh.has_gateway = true, nh.gateway = A(gw);
    r.nexthops.push_back(nh);
    return r;
  }

  Builder& AddRoute6(RouteEntry r) {
    d_.routes.push_back(r);
    return *this;
  }

  Builder& Forwarding(bool on) {
    d_.forwarding4 = d_.forwarding6 = on;
    return *this;
  }

  Builder& Rule(const RuleEntry& r) {
    if (!d_.has_rules4) {
      d_.has_rules4 = true;
      RuleEntry x;
      x.priority = 0, x.table = kTableLocal, d_.rules4.push_back(x);
      x.priority = 32766, x.table = kTableMain, d_.rules4.push_back(x);
      x.priority = 32767, x.table = kTableDefault, d_.rules4.push_back(x);
    }
    d_.rules4.push_back(r);
    return *this;
  }

  Builder& Sysctl(const std::string& k, int v) {
    d_.sysctl[k] = v;
    return *this;
  }

  HostModel Build() const { return HostModel(d_); }

 private:
  HostData d_;
};

// A router: wan 203.0.113.2/24 (default via .1), lan 192.168.1.1/24.
Builder Router() {
  Builder b;
  b.Dev("wan").Dev("lan");
  b.Addr4("wan", "203.0.113.2", 24).Addr4("lan", "192.168.1.1", 24);
  b.Via("0.0.0.0", 0, "203.0.113.1", "wan");
  return b;
}

constexpr Family k4 = Family::kIPv4;
constexpr Family k6 = Family::kIPv6;

Route Out(const HostModel& h, const std::string& dst,
          const std::string& src = "", const std::string& oif = "",
          uint32_t mark = 0) {
  return h.RouteOutput(dst.find(':') == std::string::npos ? k4 : k6, A(dst),
                       src.empty() ? Addr{} : A(src), 0,
                       oif.empty() ? nullptr : h.FindInterface(oif), mark);
}

Route In(const HostModel& h, const std::string& dst, const std::string& src,
         const std::string& iif, uint32_t mark = 0) {
  return h.RouteInput(dst.find(':') == std::string::npos ? k4 : k6, A(dst),
                      src.empty() ? Addr{} : A(src), 0, h.FindInterface(iif),
                      mark);
}

TEST(HostModel, OutputDefaultRouteAndSource) {
  HostModel h = Router().Build();
  Route r = Out(h, "8.8.8.8");
  ASSERT_EQ(r.err, 0);
  EXPECT_EQ(r.type, RouteType::kUnicast);
  EXPECT_EQ(r.dev->name, "wan");
  EXPECT_EQ(S(k4, r.gateway), "203.0.113.1");
  EXPECT_EQ(S(k4, r.prefsrc), "203.0.113.2");
  EXPECT_EQ(r.mtu, 1500u);
  r = Out(h, "192.168.1.77");
  EXPECT_EQ(r.dev->name, "lan");
  EXPECT_EQ(r.gateway, Addr{});
  EXPECT_EQ(S(k4, r.prefsrc), "192.168.1.1");
}

TEST(HostModel, OutputLocalGoesThroughLoopback) {
  HostModel h = Router().Build();
  Route r = Out(h, "192.168.1.1");
  EXPECT_EQ(r.type, RouteType::kLocal);
  EXPECT_EQ(r.dev->name, "lo");
  EXPECT_EQ(S(k4, r.prefsrc), "192.168.1.1");
  r = Out(h, "127.3.4.5");
  EXPECT_EQ(r.type, RouteType::kLocal);
  EXPECT_EQ(S(k4, r.prefsrc), "127.0.0.1");
  // No destination: the host itself, from 127.0.0.1.
  r = Out(h, "0.0.0.0");
  EXPECT_EQ(r.type, RouteType::kLocal);
  EXPECT_EQ(S(k4, r.prefsrc), "127.0.0.1");
}

TEST(HostModel, OutputBroadcastAndMulticast) {
  HostModel h = Router().Build();
  Route r = Out(h, "192.168.1.255");
  EXPECT_EQ(r.type, RouteType::kBroadcast);
  EXPECT_EQ(r.dev->name, "lan");
  r = Out(h, "255.255.255.255");
  EXPECT_EQ(r.type, RouteType::kBroadcast);
  EXPECT_EQ(r.dev->name, "wan");  // by the default route, without gateway
  EXPECT_EQ(r.gateway, Addr{});
  r = Out(h, "239.1.2.3");
  EXPECT_EQ(r.type, RouteType::kMulticast);
  EXPECT_EQ(r.gateway, Addr{});
  // From a local source, multicast leaves by that source's device.
  r = Out(h, "224.0.0.5", "192.168.1.1");
  EXPECT_EQ(r.dev->name, "lan");
}

TEST(HostModel, OutputRejectRoutes) {
  Builder b = Router();
  b.Reject(RouteType::kBlackhole, "10.1.0.0", 16)
      .Reject(RouteType::kUnreachable, "10.2.0.0", 16)
      .Reject(RouteType::kProhibit, "10.3.0.0", 16)
      .Reject(RouteType::kThrow, "10.4.0.0", 16);
  HostModel h = b.Build();
  EXPECT_EQ(Out(h, "10.1.2.3").err, kEINVAL);
  EXPECT_EQ(Out(h, "10.2.2.3").err, kEHOSTUNREACH);
  EXPECT_EQ(Out(h, "10.3.2.3").err, kEACCES);
  EXPECT_EQ(Out(h, "10.4.2.3").err, kENETUNREACH);
}

TEST(HostModel, OutputSourceChecks) {
  HostModel h = Router().Build();
  // A source this host does not have.
  EXPECT_EQ(Out(h, "8.8.8.8", "1.2.3.4").err, kENETUNREACH);
  EXPECT_EQ(Out(h, "8.8.8.8", "224.1.1.1").err, kEINVAL);
  // Loopback source out of a real device.
  EXPECT_EQ(Out(h, "8.8.8.8", "127.0.0.1").err, kEINVAL);
  // Another device's address is fine (weak host model).
  Route r = Out(h, "8.8.8.8", "192.168.1.1");
  EXPECT_EQ(r.err, 0);
  EXPECT_EQ(r.dev->name, "wan");
  EXPECT_EQ(S(k4, r.prefsrc), "192.168.1.1");
}

// FLOWI_FLAG_ANYSRC (ip_route_me_harder on a reply with a foreign unicast
// source): the own-address check is skipped, the other source checks stay.
TEST(HostModel, OutputAnySrcAcceptsAForeignSource) {
  HostModel h = Router().Build();
  Route r = h.RouteOutputAnySrc(k4, A("192.168.1.7"), A("8.8.8.8"), 0, nullptr,
                                0xff00);
  ASSERT_EQ(r.err, 0);
  EXPECT_EQ(r.dev->name, "lan");
  EXPECT_EQ(
      h.RouteOutputAnySrc(k4, A("192.168.1.7"), A("224.1.1.1"), 0, nullptr, 0)
          .err,
      kEINVAL);
}

TEST(HostModel, OutputWithOifAndNoRouteAssumesOnLink) {
  Builder b;
  b.Dev("a").Dev("b").Addr4("a", "10.0.0.1", 24).Addr4("b", "10.1.0.1", 24);
  HostModel h = b.Build();
  EXPECT_EQ(Out(h, "8.8.8.8").err, kENETUNREACH);
  Route r = Out(h, "8.8.8.8", "", "b");
  ASSERT_EQ(r.err, 0);
  EXPECT_EQ(r.dev->name, "b");
  EXPECT_EQ(S(k4, r.prefsrc), "10.1.0.1");
  // The oif restricts which routes qualify: 10.0.0.9 is not on b.
  r = Out(h, "10.0.0.9", "", "b");
  EXPECT_EQ(r.dev->name, "b");
}

TEST(HostModel, InputLocalForwardAndForwardingOff) {
  HostModel on = Router().Forwarding(true).Build();
  HostModel off = Router().Build();
  Route r = In(on, "192.168.1.1", "8.8.8.8", "wan");
  EXPECT_EQ(r.type, RouteType::kLocal);
  EXPECT_EQ(r.dev->name, "lo");
  r = In(on, "8.8.4.4", "192.168.1.50", "lan");
  ASSERT_EQ(r.err, 0);
  EXPECT_EQ(r.type, RouteType::kUnicast);
  EXPECT_EQ(r.dev->name, "wan");
  EXPECT_EQ(S(k4, r.gateway), "203.0.113.1");
  EXPECT_EQ(In(off, "8.8.4.4", "192.168.1.50", "lan").err, kEHOSTUNREACH);
  // Local delivery does not need forwarding, whichever device it came in.
  EXPECT_EQ(In(off, "203.0.113.2", "192.168.1.50", "lan").type,
            RouteType::kLocal);
}

TEST(HostModel, InputMartians) {
  HostModel h = Router().Forwarding(true).Build();
  const int kInval = kEINVAL;
  EXPECT_EQ(In(h, "192.168.1.1", "224.0.0.9", "wan").err, kInval);
  EXPECT_EQ(In(h, "192.168.1.1", "255.255.255.255", "wan").err, kInval);
  EXPECT_EQ(In(h, "0.0.0.0", "8.8.8.8", "wan").err, kInval);
  // The rest of 0.0.0.0/8 is ordinary address space since Linux 5.3.
  EXPECT_EQ(In(h, "192.168.1.1", "0.1.2.3", "wan").type, RouteType::kLocal);
  EXPECT_EQ(In(h, "0.1.2.3", "192.168.1.7", "lan").type, RouteType::kUnicast);
  EXPECT_EQ(In(h, "127.0.0.1", "8.8.8.8", "wan").err, kInval);
  EXPECT_EQ(In(h, "192.168.1.1", "127.0.0.1", "wan").err, kInval);
  // Our own address as source from outside.
  EXPECT_EQ(In(h, "192.168.1.1", "203.0.113.2", "wan").err, kInval);
  EXPECT_EQ(In(h, "8.8.8.8", "192.168.1.1", "lan").err, kInval);
  // Source 0 only towards broadcast.
  EXPECT_EQ(In(h, "255.255.255.255", "", "lan").type, RouteType::kBroadcast);
  EXPECT_EQ(In(h, "192.168.1.1", "", "lan").err, kInval);
}

TEST(HostModel, InputBroadcastAndMulticast) {
  HostModel h = Router().Build();
  Route r = In(h, "192.168.1.255", "192.168.1.9", "lan");
  EXPECT_EQ(r.type, RouteType::kBroadcast);
  EXPECT_EQ(r.dev->name, "lo");
  EXPECT_EQ(In(h, "224.0.0.1", "192.168.1.9", "lan").type,
            RouteType::kMulticast);
  // A group the device has not joined.
  EXPECT_EQ(In(h, "224.0.0.5", "192.168.1.9", "lan").err, kEINVAL);
}

TEST(HostModel, RpFilterAndAcceptLocal) {
  // Strict reverse path: a source routed back through wan is refused on
  // lan; loose only wants some route back.
  HostModel strict = Router()
                         .Forwarding(true)
                         .Sysctl("net.ipv4.conf.all.rp_filter", 1)
                         .Build();
  EXPECT_EQ(In(strict, "192.168.1.1", "8.8.8.8", "lan").err, kEINVAL);
  EXPECT_EQ(In(strict, "192.168.1.1", "8.8.8.8", "wan").type,
            RouteType::kLocal);
  Builder nodefault;
  nodefault.Dev("wan").Dev("lan");
  nodefault.Addr4("wan", "203.0.113.2", 24).Addr4("lan", "192.168.1.1", 24);
  nodefault.Sysctl("net.ipv4.conf.lan.rp_filter", 2);
  HostModel loose = nodefault.Build();
  EXPECT_EQ(In(loose, "192.168.1.1", "8.8.8.8", "lan").err, kEINVAL);
  EXPECT_EQ(In(loose, "192.168.1.1", "203.0.113.9", "lan").type,
            RouteType::kLocal);
  // accept_local lets our own address in.
  HostModel al = Router().Sysctl("net.ipv4.conf.wan.accept_local", 1).Build();
  EXPECT_EQ(In(al, "192.168.1.1", "192.168.1.1", "wan").type,
            RouteType::kLocal);
  EXPECT_EQ(al.Conf4(al.FindInterface("wan"), "accept_local"), 1);
  EXPECT_EQ(al.Conf4(al.FindInterface("lan"), "accept_local"), 0);
  EXPECT_EQ(al.Conf4(al.FindInterface("lan"), "send_redirects"), 1);
}

TEST(HostModel, RouteLocalnet) {
  HostModel h = Router().Sysctl("net.ipv4.conf.lan.route_localnet", 1).Build();
  EXPECT_EQ(In(h, "127.0.0.1", "192.168.1.9", "lan").type, RouteType::kLocal);
  EXPECT_EQ(In(h, "127.0.0.1", "192.168.1.9", "wan").err, kEINVAL);
}

TEST(HostModel, PolicyRulesByMark) {
  Builder b = Router();
  b.Dev("vpn").Addr4("vpn", "10.8.0.2", 24);
  b.Via("0.0.0.0", 0, "10.8.0.1", "vpn", 100);
  RuleEntry r;
  r.priority = 100;
  r.mark = 1;
  r.mark_mask = 0xffffffff;
  r.table = 100;
  b.Rule(r);
  HostModel h = b.Build();
  EXPECT_EQ(Out(h, "8.8.8.8").dev->name, "wan");
  Route m = Out(h, "8.8.8.8", "", "", 1);
  EXPECT_EQ(m.dev->name, "vpn");
  EXPECT_EQ(S(k4, m.prefsrc), "10.8.0.2");
  EXPECT_EQ(In(h, "8.8.8.8", "192.168.1.5", "lan", 1).err, kEHOSTUNREACH);
}

TEST(HostModel, MergedLocalTableUntilRulesAreAdded) {
  // Without custom rules local and main are one trie: the longer main
  // route wins over local 127.0.0.0/8; with a rule the local table is
  // looked up first.
  Builder b = Router();
  b.Via("127.1.0.0", 16, "203.0.113.1", "wan");
  EXPECT_EQ(Out(b.Build(), "127.1.2.3").type, RouteType::kUnicast);
  RuleEntry r;
  r.priority = 5;
  r.mark = 9;
  r.mark_mask = 0xff;
  r.table = 100;
  b.Rule(r);
  EXPECT_EQ(Out(b.Build(), "127.1.2.3").type, RouteType::kLocal);
}

TEST(HostModel, SuppressPrefixlength) {
  Builder b = Router();
  b.Dev("vpn").Addr4("vpn", "10.8.0.2", 24);
  b.Via("0.0.0.0", 0, "10.8.0.1", "vpn", 100);
  RuleEntry s;
  s.priority = 10;
  s.table = kTableMain;
  s.suppress_prefixlen = 0;
  b.Rule(s);
  RuleEntry t;
  t.priority = 20;
  t.table = 100;
  b.Rule(t);
  HostModel h = b.Build();
  EXPECT_EQ(Out(h, "8.8.8.8").dev->name, "vpn");  // main's default suppressed
  EXPECT_EQ(Out(h, "192.168.1.9").dev->name, "lan");
}

TEST(HostModel, GatewayThatIsOurOwnAddressIsNotUsed) {
  Builder b = Router();
  b.Via("10.9.0.0", 16, "192.168.1.1", "lan");
  HostModel h = b.Build();
  Route r = Out(h, "10.9.1.1");
  EXPECT_EQ(r.dev->name, "lan");
  EXPECT_EQ(r.gateway, Addr{});
}

TEST(HostModel, AddrType4) {
  HostModel h = Router().Build();
  const Interface* lan = h.FindInterface("lan");
  const Interface* wan = h.FindInterface("wan");
  EXPECT_EQ(h.AddrType(k4, A("192.168.1.1"), nullptr), RouteType::kLocal);
  EXPECT_EQ(h.AddrType(k4, A("192.168.1.1"), lan), RouteType::kLocal);
  EXPECT_EQ(h.AddrType(k4, A("192.168.1.1"), wan), RouteType::kUnicast);
  EXPECT_EQ(h.AddrType(k4, A("127.0.0.9"), nullptr), RouteType::kLocal);
  EXPECT_EQ(h.AddrType(k4, A("192.168.1.255"), nullptr), RouteType::kBroadcast);
  EXPECT_EQ(h.AddrType(k4, A("255.255.255.255"), nullptr),
            RouteType::kBroadcast);
  EXPECT_EQ(h.AddrType(k4, A("0.0.0.0"), nullptr), RouteType::kBroadcast);
  EXPECT_EQ(h.AddrType(k4, A("224.0.0.1"), nullptr), RouteType::kMulticast);
  EXPECT_EQ(h.AddrType(k4, A("8.8.8.8"), nullptr), RouteType::kUnicast);
}

TEST(HostModel, InetSelectAddr) {
  Builder b;
  b.Dev("a").Dev("b");
  b.Addr4("a", "10.0.0.1", 24).Addr4("a", "10.0.0.2", 24, 0, true);
  b.Addr4("a", "172.16.0.1", 16);
  HostModel h = b.Build();
  const Interface* a = h.FindInterface("a");
  EXPECT_EQ(S(k4, h.SelectSource(k4, a, A("8.8.8.8"))), "10.0.0.1");
  EXPECT_EQ(S(k4, h.SelectSource(k4, a, A("172.16.5.5"))), "172.16.0.1");
  // A device without addresses borrows another device's.
  EXPECT_EQ(S(k4, h.SelectSource(k4, h.FindInterface("b"), A("8.8.8.8"))),
            "10.0.0.1");
  // Host-scope addresses do not qualify for universe scope.
  EXPECT_EQ(
      S(k4, h.InetSelectAddr(h.FindInterface("lo"), Addr{}, kScopeUniverse)),
      "10.0.0.1");
  EXPECT_EQ(S(k4, h.InetSelectAddr(h.FindInterface("lo"), Addr{}, kScopeHost)),
            "127.0.0.1");
}

// An IPv6 host: lan with a global, a ULA and a link-local address.
Builder Host6() {
  Builder b;
  b.Dev("lan").Dev("wan");
  b.Addr6("lo", "::1", 128);
  b.Addr6("lan", "2001:db8:1::10", 64).Addr6("lan", "fd00:1::10", 64);
  b.Addr6("lan", "fe80::10", 64).Multicast6("lan");
  b.Addr6("wan", "2001:db8:ff::2", 64).Addr6("wan", "fe80::2", 64);
  b.Multicast6("wan");
  b.AddRoute6(b.Route6("::", 0, "wan", kTableMain, 1024, "2001:db8:ff::1"));
  return b;
}

TEST(HostModel, Ipv6OutputAndSourceSelection) {
  HostModel h = Host6().Build();
  Route r = Out(h, "2001:4860::8888");
  ASSERT_EQ(r.err, 0);
  EXPECT_EQ(r.dev->name, "wan");
  EXPECT_EQ(S(k6, r.gateway), "2001:db8:ff::1");
  EXPECT_EQ(S(k6, r.prefsrc), "2001:db8:ff::2");
  // On lan: the ULA for a ULA destination (label), the global otherwise.
  EXPECT_EQ(S(k6, Out(h, "fd00:1::99").prefsrc), "fd00:1::10");
  EXPECT_EQ(S(k6, Out(h, "2001:db8:1::99").prefsrc), "2001:db8:1::10");
  // Link-local destinations need the device; the first fe80::/64 is used
  // without one, and the source is that device's link-local address.
  r = Out(h, "fe80::99", "", "wan");
  EXPECT_EQ(r.dev->name, "wan");
  EXPECT_EQ(S(k6, r.prefsrc), "fe80::2");
  // Local destinations go through lo.
  r = Out(h, "2001:db8:1::10");
  EXPECT_EQ(r.type, RouteType::kLocal);
  EXPECT_EQ(r.dev->name, "lo");
}

TEST(HostModel, Ipv6Input) {
  HostModel h = Host6().Build();
  EXPECT_EQ(In(h, "2001:db8:1::10", "2001:db8:9::1", "wan").type,
            RouteType::kLocal);
  Route r = In(h, "2001:db8:1::77", "2001:db8:9::1", "wan");
  EXPECT_EQ(r.type, RouteType::kUnicast);  // forwarding is ip6_forward's
  EXPECT_EQ(r.dev->name, "lan");
  // Multicast: joined groups only.
  EXPECT_EQ(In(h, "ff02::1", "fe80::1", "lan").type, RouteType::kMulticast);
  EXPECT_EQ(In(h, "ff02::1:ff00:10", "fe80::1", "lan").type,
            RouteType::kMulticast);
  EXPECT_EQ(In(h, "ff02::2", "fe80::1", "lan").err, kEINVAL);
  EXPECT_FALSE(h.IsMulticastMember(k6, h.FindInterface("lan"), A("ff02::2")));
}

TEST(HostModel, AddrType6) {
  HostModel h = Host6().Build();
  const Interface* lan = h.FindInterface("lan");
  EXPECT_EQ(h.AddrType(k6, A("2001:db8:1::10"), nullptr), RouteType::kLocal);
  EXPECT_EQ(h.AddrType(k6, A("2001:db8:1::10"), lan), RouteType::kLocal);
  EXPECT_EQ(h.AddrType(k6, A("2001:db8:1::"), nullptr), RouteType::kAnycast);
  EXPECT_EQ(h.AddrType(k6, A("2001:db8:1::5"), nullptr), RouteType::kUnicast);
  EXPECT_EQ(h.AddrType(k6, A("ff02::1"), nullptr), RouteType::kMulticast);
  EXPECT_EQ(h.AddrType(k6, A("::"), nullptr), RouteType::kUnspec);
  Builder b = Host6();
  RouteEntry u = b.Route6("2001:db8:dead::", 48, "lo", kTableMain, 1024);
  u.type = RouteType::kUnreachable;
  b.AddRoute6(u);
  EXPECT_EQ(b.Build().AddrType(k6, A("2001:db8:dead::1"), nullptr),
            RouteType::kUnreachable);
}

TEST(HostModel, Ipv6TentativeAddressesAreNotSources) {
  Builder b;
  b.Dev("lan");
  b.Addr6("lan", "2001:db8:1::10", 64, kIfaTentative);
  b.Addr6("lan", "2001:db8:1::20", 64);
  HostModel h = b.Build();
  Addr a;
  ASSERT_TRUE(h.Ipv6DevGetSaddr(nullptr, A("2001:db8:1::10"), &a));
  EXPECT_EQ(S(k6, a), "2001:db8:1::20");
}

TEST(HostModel, NoInputDevice) {
  HostModel h = Router().Build();
  EXPECT_EQ(h.RouteInput(k4, A("192.168.1.1"), A("8.8.8.8"), 0, nullptr, 0).err,
            kENODEV);
}

}  // namespace
}  // namespace netfence::core
