#include "io/classbench.h"

#include <fmt/format.h>
#include <zlib.h>

#include <cstdio>
#include <random>
#include <sstream>

#include "core/classifier.h"
#include "io/file.h"

namespace netfence::io {

namespace {

bool ParsePrefix(const std::string& s, uint32_t& addr, int& len) {
  unsigned a, b, c, d;
  int l;
  char tail;
  if (std::sscanf(s.c_str(), "%u.%u.%u.%u/%d%c", &a, &b, &c, &d, &l, &tail) !=
      5)
    return false;
  if (a > 255 || b > 255 || c > 255 || d > 255 || l < 0 || l > 32) return false;
  addr = a << 24 | b << 16 | c << 8 | d;
  len = l;
  if (len < 32) addr &= len == 0 ? 0 : ~0u << (32 - len);
  return true;
}

std::string Dotted(uint32_t a) {
  return fmt::format("{}.{}.{}.{}", a >> 24, (a >> 16) & 255, (a >> 8) & 255,
                     a & 255);
}

std::string Ports(uint16_t lo, uint16_t hi) {
  return lo == hi ? fmt::format("{}", lo) : fmt::format("{}:{}", lo, hi);
}

}  // namespace

std::vector<ClassBenchRule> ParseClassBench(const std::string& text,
                                            const std::string& file) {
  std::vector<ClassBenchRule> out;
  std::istringstream in(text);
  std::string line;
  int lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    std::istringstream ls(line);
    std::string src, dst, c1, c2, proto;
    unsigned sl, sh, dl, dh;
    ClassBenchRule r;
    unsigned pv, pm;
    bool ok =
        bool(ls >> src >> dst >> sl >> c1 >> sh >> dl >> c2 >> dh >> proto) &&
        c1 == ":" && c2 == ":" && !src.empty() && src[0] == '@' &&
        ParsePrefix(src.substr(1), r.src, r.src_len) &&
        ParsePrefix(dst, r.dst, r.dst_len) && sl <= sh && sh <= 65535 &&
        dl <= dh && dh <= 65535 &&
        std::sscanf(proto.c_str(), "%x/%x", &pv, &pm) == 2 && pv <= 255 &&
        pm <= 255;
    if (!ok)
      throw InputError(
          fmt::format("{}:{}: not a ClassBench filter", file, lineno));
    r.sport_lo = uint16_t(sl);
    r.sport_hi = uint16_t(sh);
    r.dport_lo = uint16_t(dl);
    r.dport_hi = uint16_t(dh);
    r.proto = uint8_t(pv & pm);
    r.proto_mask = uint8_t(pm);
    out.push_back(r);
  }
  return out;
}

ClassBenchRuleset ClassBenchToRestore(
    const std::vector<ClassBenchRule>& rules) {
  ClassBenchRuleset rs;
  std::string& o = rs.restore;
  o.reserve(rules.size() * 96);
  o += "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT "
       "[0:0]\n";
  for (size_t i = 0; i < rules.size(); ++i) {
    const ClassBenchRule& r = rules[i];
    const std::string addrs =
        fmt::format("-A FORWARD -s {}/{} -d {}/{}", Dotted(r.src), r.src_len,
                    Dotted(r.dst), r.dst_len);
    const bool any_ports = !(r.sport_lo == 0 && r.sport_hi == 0xffff &&
                             r.dport_lo == 0 && r.dport_hi == 0xffff);
    std::string ports;
    if (r.sport_lo != 0 || r.sport_hi != 0xffff)
      ports += " --sport " + Ports(r.sport_lo, r.sport_hi);
    if (r.dport_lo != 0 || r.dport_hi != 0xffff)
      ports += " --dport " + Ports(r.dport_lo, r.dport_hi);
    auto emit = [&](const std::string& proto_part) {
      o += addrs;
      o += proto_part;
      o += " -j ACCEPT\n";
      rs.origin.push_back(uint32_t(i + 1));
    };
    if (r.proto_mask != 0xff) {
      // A wildcard (or, never seen, partial) protocol mask.
      if (!any_ports) {
        emit("");
      } else {
        emit(" -p tcp -m tcp" + ports);
        emit(" -p udp -m udp" + ports);
      }
    } else if (r.proto == 6 || r.proto == 17) {
      const char* name = r.proto == 6 ? "tcp" : "udp";
      emit(any_ports ? fmt::format(" -p {} -m {}{}", name, name, ports)
                     : fmt::format(" -p {}", name));
    } else {
      if (any_ports) ++rs.ports_dropped;
      emit(r.proto == 0 ? std::string(" -p 0")
                        : fmt::format(" -p {}", r.proto));
    }
  }
  o += "COMMIT\n";
  return rs;
}

std::vector<TraceHeader> ReadTrace(const std::string& path) {
  std::vector<TraceHeader> out;
  gzFile f = gzopen(path.c_str(), "rb");  // reads plain files as they are
  if (f == nullptr) throw InputError(path + ": cannot open");
  char buf[512];
  int lineno = 0;
  while (gzgets(f, buf, sizeof buf) != nullptr) {
    ++lineno;
    unsigned long s, d;
    unsigned sp, dp, pr;
    int n = std::sscanf(buf, "%lu %lu %u %u %u", &s, &d, &sp, &dp, &pr);
    if (n <= 0) continue;
    if (n != 5 || s > 0xffffffffUL || d > 0xffffffffUL || sp > 65535 ||
        dp > 65535 || pr > 255) {
      gzclose(f);
      throw InputError(
          fmt::format("{}:{}: not a ClassBench header", path, lineno));
    }
    out.push_back(
        {uint32_t(s), uint32_t(d), uint16_t(sp), uint16_t(dp), uint8_t(pr)});
  }
  const bool err = !gzeof(f);
  gzclose(f);
  if (err) throw InputError(path + ": read error");
  return out;
}

std::vector<TraceHeader> DrawHeaders(const core::Table& t, const core::Chain& c,
                                     size_t n, uint64_t seed) {
  std::vector<TraceHeader> out;
  if (c.rules.empty()) return out;
  core::ChainIndex ix(t.family, 0);
  std::vector<core::RuleBox> boxes;
  for (const core::Rule& r : c.rules) boxes.push_back(ix.BoxFor(r));
  std::mt19937_64 rng(seed);
  auto pick = [&](uint32_t lo, uint32_t hi) {
    return std::uniform_int_distribution<uint32_t>(lo, hi)(rng);
  };
  static const uint8_t kProtos[] = {6, 17, 1};
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    const core::RuleBox& b = boxes[rng() % boxes.size()];
    TraceHeader h;
    h.src = pick(b.lo[core::kFieldSrc], b.hi[core::kFieldSrc]);
    h.dst = pick(b.lo[core::kFieldDst], b.hi[core::kFieldDst]);
    h.proto = b.lo[core::kFieldProto] == b.hi[core::kFieldProto]
                  ? uint8_t(b.lo[core::kFieldProto])
                  : kProtos[rng() % 3];
    h.sport = uint16_t(pick(b.lo[core::kFieldSport], b.hi[core::kFieldSport]));
    h.dport = uint16_t(pick(b.lo[core::kFieldDport], b.hi[core::kFieldDport]));
    out.push_back(h);
  }
  return out;
}

core::Packet MakePacket(const TraceHeader& h) {
  core::Packet p;
  p.family = core::Family::kIPv4;
  const size_t l4 = h.proto == 6 ? 20 : (h.proto == 17 || h.proto == 1) ? 8 : 0;
  p.data.assign(20 + l4, 0);
  uint8_t* d = p.data.data();
  d[0] = 0x45;
  core::Store16(d + 2, uint16_t(p.data.size()));
  d[8] = 64;
  d[9] = h.proto;
  core::Store32(d + 12, h.src);
  core::Store32(d + 16, h.dst);
  uint8_t* t = d + 20;
  if (h.proto == 6 || h.proto == 17) {
    core::Store16(t, h.sport);
    core::Store16(t + 2, h.dport);
    if (h.proto == 6) {
      t[12] = 5 << 4;
      t[13] = 0x10;
    } else {
      core::Store16(t + 4, 8);
    }
  } else if (h.proto == 1) {
    t[0] = uint8_t(h.sport);
    t[1] = uint8_t(h.dport);
  }
  return p;
}

}  // namespace netfence::io
