// The host-file reader (src/io/host_json): every realistic scenario host
// loads and routes sensibly, and bad files get one clear error naming the
// file. (It lives here rather than beside src/io/host_json.cc because the
// netfence_io library globs src/io/*.cc, tests included.)
#include "io/host_json.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/addr.h"
#include "io/file.h"
#include "tests/shared_dir.h"

namespace netfence {
namespace {

using core::Family;
using core::RouteType;

core::Addr A(const std::string& s) {
  return core::ParseNumeric(
             s.find(':') == std::string::npos ? Family::kIPv4 : Family::kIPv6,
             s)
      .value();
}

std::vector<std::string> RealisticHosts() {
  std::vector<std::string> out;
  const std::filesystem::path dir =
      std::filesystem::path(SharedDir()) / "scenarios" / "realistic";
  if (!std::filesystem::is_directory(dir)) return out;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (std::filesystem::exists(e.path() / "host.json"))
      out.push_back((e.path() / "host.json").string());
  std::sort(out.begin(), out.end());
  return out;
}

TEST(HostJson, EveryRealisticHostLoadsAndRoutes) {
  const auto files = RealisticHosts();
  ASSERT_EQ(files.size(), 10u) << "realistic scenarios under " << SharedDir();
  for (const std::string& f : files) {
    SCOPED_TRACE(f);
    std::unique_ptr<core::HostModel> h = io::LoadHostFile(f);
    ASSERT_NE(h->Loopback(), nullptr);
    // Every address is local; 127/8 too.
    for (const core::Interface& i : h->Interfaces()) {
      for (const core::IfAddr& a : i.addrs) {
        core::Route r = h->RouteOutput(a.family, a.local, {}, 0, nullptr, 0);
        EXPECT_EQ(r.type, RouteType::kLocal)
            << i.name << " " << core::FormatAddr(a.family, a.local);
        EXPECT_EQ(h->AddrType(a.family, a.local, nullptr), RouteType::kLocal);
      }
    }
    // Every host has a default route: the world is reached through a
    // gateway, from a global address of the outgoing device.
    core::Route r =
        h->RouteOutput(Family::kIPv4, A("8.8.8.8"), {}, 0, nullptr, 0);
    ASSERT_EQ(r.err, 0);
    EXPECT_EQ(r.type, RouteType::kUnicast);
    EXPECT_NE(r.gateway, core::Addr{});
    bool own = false;
    for (const core::IfAddr& a : r.dev->addrs) own |= a.local == r.prefsrc;
    EXPECT_TRUE(own);
    // Forwarding as the file says: an outside packet to the world is
    // forwarded or refused.
    const core::Interface* in = nullptr;
    for (const core::Interface& i : h->Interfaces())
      if (!i.loopback && &i != r.dev) in = &i;
    if (in != nullptr) {
      core::Route f = h->RouteInput(Family::kIPv4, A("8.8.8.8"),
                                    A("198.51.100.7"), 0, in, 0);
      if (h->Forwarding(Family::kIPv4)) {
        EXPECT_EQ(f.type, RouteType::kUnicast);
        EXPECT_EQ(f.dev, r.dev);
      } else {
        EXPECT_EQ(f.err, core::kEHOSTUNREACH);
      }
    }
  }
}

TEST(HostJson, DslRouterPointToPoint) {
  const std::string f =
      SharedDir() + "/scenarios/realistic/dsl_router/host.json";
  std::unique_ptr<core::HostModel> h = io::LoadHostFile(f);
  const core::Interface* ppp = h->FindInterface("ppp0");
  ASSERT_NE(ppp, nullptr);
  EXPECT_EQ(core::FormatAddr(Family::kIPv4, ppp->addrs[0].peer), "84.150.0.1");
  core::Route r =
      h->RouteOutput(Family::kIPv4, A("84.150.0.1"), {}, 0, nullptr, 0);
  EXPECT_EQ(r.dev, ppp);
  EXPECT_EQ(core::FormatAddr(Family::kIPv4, r.prefsrc), "84.150.20.7");
  EXPECT_EQ(core::FormatAddr(Family::kIPv4,
                             h->SelectSource(Family::kIPv4, ppp, A("1.1.1.1"))),
            "84.150.20.7");
}

TEST(HostJson, FirewalldIpv6) {
  const std::string f =
      SharedDir() + "/scenarios/realistic/firewalld/host.json";
  std::unique_ptr<core::HostModel> h = io::LoadHostFile(f);
  core::Route r =
      h->RouteOutput(Family::kIPv6, A("2001:db8:99::1"), {}, 0, nullptr, 0);
  ASSERT_EQ(r.err, 0);
  EXPECT_EQ(r.dev->name, "wlp58s0");
  EXPECT_EQ(core::FormatAddr(Family::kIPv6, r.prefsrc), "2001:db8:1::50");
  r = h->RouteOutput(Family::kIPv6, A("fd00:122::10"), {}, 0, nullptr, 0);
  EXPECT_EQ(r.dev->name, "virbr0");
  EXPECT_EQ(core::FormatAddr(Family::kIPv6, r.prefsrc), "fd00:122::1");
  // The forwarding host has the subnet-router anycast address.
  EXPECT_EQ(h->AddrType(Family::kIPv6, A("2001:db8:1::"), nullptr),
            RouteType::kAnycast);
  // `routes` carries the IPv6 routes too; they are not doubled.
  size_t n6 = 0;
  for (const core::RouteEntry& e : h->data().routes)
    n6 += e.family == Family::kIPv6;
  EXPECT_EQ(n6, 16u);
}

std::string ErrorOf(const std::string& text) {
  try {
    io::ParseHostJson(text, "h.json");
  } catch (const io::InputError& e) {
    return e.what();
  }
  return "";
}

TEST(HostJson, BadFilesGetOneClearError) {
  const std::string lo =
      R"({"ifindex":1,"ifname":"lo","flags":["LOOPBACK","UP"],)"
      R"("addr_info":[{"family":"inet","local":"127.0.0.1","prefixlen":8}]})";
  auto host = [&](const std::string& routes) {
    return R"({"addrs":[)" + lo + R"(],"routes":)" + routes +
           R"(,"routes6":[],"forwarding":false})";
  };
  EXPECT_EQ(ErrorOf(host("[]")), "");
  EXPECT_EQ(ErrorOf("{"), ErrorOf("{"));
  EXPECT_EQ(ErrorOf("{").rfind("h.json: not valid JSON", 0), 0u);
  EXPECT_EQ(ErrorOf("[]"), "h.json: expected a JSON object");
  EXPECT_EQ(ErrorOf(R"({"routes":[],"routes6":[],"forwarding":true})"),
            "h.json: missing \"addrs\"");
  EXPECT_EQ(ErrorOf(R"({"addrs":[)" + lo + R"(],"routes":[],"routes6":[]})"),
            "h.json: missing \"forwarding\"");
  EXPECT_EQ(
      ErrorOf(host(R"([{"dst":"10.0.0.0/8","dev":"eth9"}])")),
      "h.json: routes[0].dev: unknown device \"eth9\" (not in \"addrs\")");
  EXPECT_EQ(ErrorOf(host(R"([{"dst":"10.0.0.0/33","dev":"lo"}])")),
            "h.json: routes[0].dst: bad prefix \"10.0.0.0/33\"");
  EXPECT_EQ(ErrorOf(host(R"([{"dst":"10.0.0.300","dev":"lo"}])")),
            "h.json: routes[0].dst: bad IPv4 address \"10.0.0.300\"");
  EXPECT_EQ(ErrorOf(host(R"([{"type":"weird","dst":"10.0.0.0/8"}])")),
            "h.json: routes[0].type: unknown route type \"weird\"");
  EXPECT_EQ(ErrorOf(host(R"([{"dst":"10.0.0.0/8"}])")),
            "h.json: routes[0]: route without a device");
  EXPECT_EQ(ErrorOf(host(R"([{"dst":"10.0.0.0/8","dev":"lo","metric":"x"}])")),
            "h.json: routes[0].metric: expected a number, got \"x\"");
  EXPECT_EQ(ErrorOf(host("{}")), "h.json: routes: expected an array");
  EXPECT_EQ(ErrorOf(R"({"addrs":[{"ifname":"x"}],"routes":[],"routes6":[],)"
                    R"("forwarding":true})"),
            "h.json: addrs[0]: missing \"ifindex\"");
}

TEST(HostJson, MissingFileNamesIt) {
  try {
    io::LoadHostFile("/nonexistent/host.json");
    FAIL();
  } catch (const io::InputError& e) {
    EXPECT_EQ(std::string(e.what()).rfind("/nonexistent/host.json: ", 0), 0u);
  }
}

TEST(HostJson, RulesAndSysctls) {
  const std::string text = R"({
    "addrs": [
      {"ifindex":1,"ifname":"lo","flags":["LOOPBACK","UP"],"addr_info":[
        {"family":"inet","local":"127.0.0.1","prefixlen":8,"scope":"host"}]},
      {"ifindex":2,"ifname":"eth0","flags":["UP"],"mtu":1500,"addr_info":[
        {"family":"inet","local":"10.0.0.1","prefixlen":24}]},
      {"ifindex":3,"ifname":"wg0","flags":["UP"],"mtu":1420,"addr_info":[
        {"family":"inet","local":"10.8.0.2","prefixlen":24}]}],
    "routes": [
      {"dst":"default","gateway":"10.0.0.254","dev":"eth0","flags":[]},
      {"dst":"default","dev":"wg0","table":"vpn","flags":[]},
      {"dst":"10.0.0.0/24","dev":"eth0","protocol":"kernel","scope":"link",
       "prefsrc":"10.0.0.1","flags":[]},
      {"dst":"10.8.0.0/24","dev":"wg0","protocol":"kernel","scope":"link",
       "prefsrc":"10.8.0.2","flags":[]},
      {"type":"local","dst":"10.0.0.1","dev":"eth0","table":"local",
       "protocol":"kernel","scope":"host","prefsrc":"10.0.0.1","flags":[]},
      {"type":"local","dst":"10.8.0.2","dev":"wg0","table":"local",
       "protocol":"kernel","scope":"host","prefsrc":"10.8.0.2","flags":[]},
      {"type":"local","dst":"127.0.0.0/8","dev":"lo","table":"local",
       "protocol":"kernel","scope":"host","prefsrc":"127.0.0.1","flags":[]}],
    "routes6": [],
    "forwarding": true,
    "rules": [
      {"priority":0,"src":"all","table":"local"},
      {"priority":32764,"src":"all","table":"main","suppress_prefixlen":0},
      {"priority":32765,"not":null,"src":"all","fwmark":"0xca6c","table":"vpn"},
      {"priority":32766,"src":"all","table":"main"},
      {"priority":32767,"src":"all","table":"default"}],
    "sysctl": {"net.ipv4.conf.all.rp_filter": 2, "net.core.somaxconn": 4096}
  })";
  std::unique_ptr<core::HostModel> h =
      std::make_unique<core::HostModel>(io::ParseHostJson(text, "wg.json"));
  // wg-quick's policy: everything through the tunnel unless marked.
  core::Route r =
      h->RouteOutput(Family::kIPv4, A("1.1.1.1"), {}, 0, nullptr, 0);
  EXPECT_EQ(r.dev->name, "wg0");
  EXPECT_EQ(r.mtu, 1420u);
  r = h->RouteOutput(Family::kIPv4, A("1.1.1.1"), {}, 0, nullptr, 0xca6c);
  EXPECT_EQ(r.dev->name, "eth0");
  EXPECT_EQ(r.mtu, 1500u);
  r = h->RouteOutput(Family::kIPv4, A("10.0.0.7"), {}, 0, nullptr, 0);
  EXPECT_EQ(r.dev->name, "eth0");
  EXPECT_EQ(h->Conf4(h->FindInterface("eth0"), "rp_filter"), 2);
  EXPECT_EQ(h->data().sysctl.count("net.core.somaxconn"), 0u);
}

}  // namespace
}  // namespace netfence
