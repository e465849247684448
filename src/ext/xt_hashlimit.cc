// hashlimit match: token buckets per address / port group, in a table
// named and shared by every rule that uses the name (xt_hashlimit, revision
// 3: the one iptables 1.8.9 picks on a 6.x kernel). Buckets refill with the
// kernel's jiffy-based credit arithmetic at CONFIG_HZ=250, driven by the
// packets' timestamps; the table's garbage collector runs every
// --hashlimit-htable-gcinterval from the load (t = 0).
#include <fmt/format.h>
#include <strings.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>

#include "core/xt.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

enum OptId : unsigned {
  kOUpto,
  kOAbove,
  kOLimit,  // unused id of the old revision's option
  kOMode,
  kOSrcMask,
  kODstMask,
  kOName,
  kOBurst,
  kOSize,
  kOMax,
  kOGcInterval,
  kOExpire,
  kORateMatch,
  kOInterval,
};

// Mode bits (XT_HASHLIMIT_*).
enum : uint32_t {
  kHashDip = 1 << 0,
  kHashDpt = 1 << 1,
  kHashSip = 1 << 2,
  kHashSpt = 1 << 3,
  kInvert = 1 << 4,
  kBytes = 1 << 5,
  kRateMatch = 1 << 6,
  kHashAny = kHashDip | kHashDpt | kHashSip | kHashSpt,
};

constexpr uint64_t kHz = 250;            // CONFIG_HZ of the kernel
constexpr uint64_t kScale = 1000000;     // XT_HASHLIMIT_SCALE_v2
constexpr uint64_t kBurstMax = 1000000;  // XT_HASHLIMIT_BURST_MAX
constexpr uint32_t kDefaultBurst = 5;
constexpr uint32_t kDefaultGcInterval = 1000;  // ms
constexpr uint32_t kByteExpire = 15;           // s
constexpr uint32_t kByteExpireBurst = 60;      // s
constexpr unsigned kByteShift = 4;             // XT_HASHLIMIT_BYTE_SHIFT
constexpr uint32_t kMaxSize = 1048576;         // HASHLIMIT_MAX_SIZE
// Buckets of a table without --hashlimit-htable-size on a host with more
// than 1 GiB of memory.
constexpr uint32_t kAutoSize = 8192;

constexpr uint64_t PowerOfTwoBelow(uint64_t x) {
  uint64_t p = 1;
  while (p <= x / 2) p *= 2;
  return p;
}
// CREDITS_PER_JIFFY (64-bit) and CREDITS_PER_JIFFY_BYTES.
constexpr uint64_t kCpj = PowerOfTwoBelow(~uint64_t(0) / (kHz * 86400));
constexpr uint64_t kCpjBytes = PowerOfTwoBelow(0xFFFFFFFFu / kHz);

int64_t Jiffies(double t) { return int64_t(std::floor(t * kHz + 1e-6)); }

// MsecsToJiffies rounds up, as msecs_to_jiffies does at HZ=250.
int64_t MsecsToJiffies(uint32_t ms) { return (int64_t(ms) + 3) / 4; }

uint64_t UserToCredits(uint64_t user) {
  return user * ((kHz * kCpj) / kScale);  // wraps in 64 bits, as there
}

uint32_t UserToCreditsByte(uint32_t user) {
  return uint32_t((uint64_t(user) * (kHz * kCpjBytes)) >> 32);
}

uint64_t CostToBytes(uint64_t cost) {
  uint64_t r = cost ? 0xFFFFFFFFu / cost : 0xFFFFFFFFu;
  return (r - 1) << kByteShift;
}

uint64_t BytesToCost(uint64_t bytes) {
  const uint32_t r = uint32_t(bytes >> kByteShift);
  if (r + 1 == 0) return 0;
  return 0xFFFFFFFFu / (r + 1);
}

uint32_t Factor(char c) { return c == 'm' ? 1024 * 1024 : c == 'k' ? 1024 : 1; }

std::string BadValue(const char* opt, const std::string& arg) {
  return fmt::format("hashlimit: Bad value for \"{}\" option: \"{}\"", opt,
                     arg);
}

// Config is struct hashlimit_cfg3.
struct Config {
  uint32_t mode = 0;
  uint64_t avg = 0;
  uint64_t burst = kDefaultBurst;
  uint32_t size = 0, max = 0;
  uint32_t gc_interval = kDefaultGcInterval, expire = 0;
  uint32_t interval = 0;
  uint8_t srcmask = 0, dstmask = 0;
};

// Key is struct dsthash_dst: the masked addresses and ports a bucket is for.
struct Key {
  std::array<uint8_t, 16> src{}, dst{};
  uint16_t sport = 0, dport = 0;
  auto operator<=>(const Key&) const = default;
};

// Bucket is one dsthash_ent.
struct Bucket {
  int64_t expires = 0;
  int64_t prev = 0;
  uint64_t credit = 0, credit_cap = 0, cost = 0;
  // Rate-match mode.
  uint32_t interval = 0, prev_window = 0;
  uint64_t current_rate = 0, rate = 0;
  int64_t burst = 0;
};

// HTable is one named xt_hashlimit_htable: its configuration is the one of
// the first rule that created it.
struct HTable {
  std::mutex mu;
  Config cfg;
  uint32_t max = 0;
  int64_t next_gc = 0;
  std::map<Key, Bucket> buckets;

  // Gc runs the collector passes due by now. No packet touched the table
  // since the previous call, so the passes in between all see the same
  // buckets and the last one decides.
  void Gc(int64_t now) {
    if (now < next_gc) return;
    const int64_t step = std::max<int64_t>(1, MsecsToJiffies(cfg.gc_interval));
    const int64_t last = next_gc + (now - next_gc) / step * step;
    for (auto it = buckets.begin(); it != buckets.end();)
      it = last >= it->second.expires ? buckets.erase(it) : ++it;
    next_gc = last + step;
  }

  void Init(Bucket& b, int64_t now) const {
    b.prev = now;
    if (cfg.mode & kRateMatch) {
      b.prev_window = 0;
      b.current_rate = 0;
      if (cfg.mode & kBytes) {
        const uint32_t avg = uint32_t(cfg.avg);
        const uint64_t r = avg ? 0xFFFFFFFFu / avg : 0xFFFFFFFFu;
        b.rate = (r - 1) << kByteShift;
        b.burst = int64_t(cfg.burst ? cfg.burst * b.rate : b.rate);
      } else {
        b.rate = cfg.avg ? kScale / cfg.avg : 0;
        b.burst = int64_t(cfg.burst + b.rate);
      }
      b.interval = cfg.interval;
    } else if (cfg.mode & kBytes) {
      b.credit = kCpjBytes * kHz;
      b.cost = UserToCreditsByte(uint32_t(cfg.avg));
      b.credit_cap = cfg.burst;
    } else {
      b.credit = UserToCredits(cfg.avg * cfg.burst);
      b.cost = UserToCredits(cfg.avg);
      b.credit_cap = b.credit;
    }
  }

  void Recalc(Bucket& b, int64_t now) const {
    const uint64_t delta = uint64_t(now - b.prev);
    if (delta == 0) return;
    if (cfg.mode & kRateMatch) {
      const uint64_t interval = uint64_t(b.interval) * kHz;
      if (delta < interval) return;
      b.prev = now;
      b.prev_window = b.current_rate * interval > delta * b.rate;
      b.current_rate = 0;
      return;
    }
    b.prev = now;
    uint64_t cap;
    if (cfg.mode & kBytes) {
      const uint64_t before = b.credit;
      b.credit += kCpjBytes * delta;
      cap = kCpjBytes * kHz;
      if (before >= b.credit) {  // wrapped
        b.credit = cap;
        return;
      }
    } else {
      b.credit += delta * kCpj;
      cap = b.credit_cap;
    }
    if (b.credit > cap) b.credit = cap;
  }
};

// ParseRate is parse_rate: "N[/unit]" into a period in millionths of a
// second; sets the unit's length in seconds (the default expiry).
bool ParseRate(const std::string& rate, uint64_t& val, uint32_t& mult) {
  mult = 1;
  size_t slash = rate.find('/');
  if (slash != std::string::npos) {
    const std::string unit = rate.substr(slash + 1);
    if (unit.empty()) return false;
    auto is = [&](const char* name) {
      return strncasecmp(unit.c_str(), name, unit.size()) == 0;
    };
    if (is("second"))
      mult = 1;
    else if (is("minute"))
      mult = 60;
    else if (is("hour"))
      mult = 60 * 60;
    else if (is("day"))
      mult = 24 * 60 * 60;
    else
      return false;
  }
  const uint64_t r = uint64_t(atoll(rate.c_str()));
  if (r == 0) return false;
  val = kScale * mult / r;
  if (val == 0) throw ParseError("Rate too fast \"" + rate + "\"");
  return true;
}

// ParseBytes is parse_bytes: "N[k|m]b/s" into a cost per byte chunk.
bool ParseBytes(const std::string& rate, uint64_t& val, uint32_t& mult) {
  size_t at = rate.find("b/s");
  if (at == std::string::npos || at == 0) return false;
  const uint64_t r = uint64_t(atoll(rate.c_str()));
  if (r == 0) return false;
  const uint64_t cost = BytesToCost(r * Factor(rate[at - 1]));
  if (cost == 0) throw ParseError("Rate too high \"" + rate + "\"");
  mult = kByteExpire;
  val = cost;
  return true;
}

uint64_t ParseBurst(const std::string& s) {
  auto fail = [] {
    throw ParseError(fmt::format(
        "bad value for option \"--hashlimit-burst\", or out of range (1-{}).",
        kBurstMax));
  };
  uint64_t v;
  size_t n = StrToU64Prefix(s, v, 1, 0);
  if (n == 0 || (n == s.size() && v > kBurstMax)) fail();
  return v * Factor(n < s.size() ? s[n] : '\0');
}

// PrintRate is print_rate; returns the unit in milliseconds (the expiry
// iptables would have defaulted to).
uint32_t PrintRate(std::string& out, uint64_t period) {
  static const struct {
    const char* name;
    uint64_t mult;
  } kRates[] = {{"day", kScale * 24 * 60 * 60},
                {"hour", kScale * 60 * 60},
                {"min", kScale * 60},
                {"sec", kScale}};
  if (period == 0) {
    out += " inf";
    return 0;
  }
  size_t i = 1;
  for (; i < std::size(kRates); ++i)
    if (period > kRates[i].mult ||
        kRates[i].mult / period < kRates[i].mult % period)
      break;
  out += fmt::format(" {}/{}", kRates[i - 1].mult / period, kRates[i - 1].name);
  return uint32_t(kRates[i - 1].mult / kScale * 1000);
}

// PrintBytes is print_bytes.
uint32_t PrintBytes(std::string& out, uint64_t avg, uint64_t burst,
                    const char* prefix) {
  static const struct {
    const char* name;
    uint32_t thresh;
  } kUnits[] = {{"m", 1024 * 1024}, {"k", 1024}, {"", 1}};
  uint64_t r = CostToBytes(avg);
  size_t i = 0;
  for (; i < std::size(kUnits) - 1; ++i)
    if (r >= kUnits[i].thresh &&
        BytesToCost(r & ~uint64_t(kUnits[i].thresh - 1)) == avg)
      break;
  out += fmt::format(" {}{}b/s", r / kUnits[i].thresh, kUnits[i].name);
  if (burst == 0) return kByteExpire * 1000;
  r *= burst;
  out += fmt::format(" {}", prefix);
  for (i = 0; i < std::size(kUnits) - 1; ++i)
    if (r >= kUnits[i].thresh) break;
  out += fmt::format("burst {}{}b", r / kUnits[i].thresh, kUnits[i].name);
  return kByteExpireBurst * 1000;
}

void PrintMode(std::string& out, uint32_t mode) {
  static const struct {
    uint32_t bit;
    const char* name;
  } kOrder[] = {{kHashSip, "srcip"},
                {kHashSpt, "srcport"},
                {kHashDip, "dstip"},
                {kHashDpt, "dstport"}};
  out += ' ';
  bool first = true;
  for (const auto& o : kOrder) {
    if (!(mode & o.bit)) continue;
    if (!first) out += ',';
    out += o.name;
    first = false;
  }
}

// MaskPrefix keeps the first len bits of an address.
void MaskPrefix(std::array<uint8_t, 16>& a, size_t bytes, unsigned len) {
  for (size_t i = 0; i < bytes; ++i) {
    const unsigned bit = unsigned(i) * 8;
    if (len >= bit + 8) continue;
    a[i] &= len <= bit ? 0 : uint8_t(0xff << (8 - (len - bit)));
  }
}

// PortsOffset is proto_ports_offset: where the two 16-bit "ports" are.
int PortsOffset(uint8_t proto) {
  switch (proto) {
    case 6:    // TCP
    case 17:   // UDP
    case 33:   // DCCP
    case 50:   // ESP: the SPI
    case 132:  // SCTP
    case 136:  // UDP-Lite
      return 0;
    case 51:  // AH: the SPI
      return 4;
    default:
      return -1;
  }
}

// HashlimitMatch is one -m hashlimit: the rule's configuration and the
// named table it shares.
class HashlimitMatch : public Match {
 public:
  explicit HashlimitMatch(Family f) : family_(f) {
    cfg_.srcmask = cfg_.dstmask = f == Family::kIPv4 ? 32 : 128;
  }

  void Parse(OptCall& c) override {
    switch (c.id()) {
      case kOBurst:
        cfg_.burst = ParseBurst(c.arg);
        break;
      case kOUpto:
      case kOAbove: {
        const bool above = c.id() == kOAbove;
        if (c.invert != above) cfg_.mode |= kInvert;
        if (ParseBytes(c.arg, cfg_.avg, mult_))
          cfg_.mode |= kBytes;
        else if (!ParseRate(c.arg, cfg_.avg, mult_))
          throw ParseError(BadValue(
              above ? "--hashlimit-above" : "--hashlimit-upto", c.arg));
        break;
      }
      case kOMode:
        ParseMode(c.arg);
        break;
      case kOSrcMask:
        cfg_.srcmask = c.val.hlen;
        break;
      case kODstMask:
        cfg_.dstmask = c.val.hlen;
        break;
      case kOName:
        name_ = c.arg;
        break;
      case kOSize:
        cfg_.size = uint32_t(c.val.u);
        break;
      case kOMax:
        cfg_.max = uint32_t(c.val.u);
        break;
      case kOGcInterval:
        cfg_.gc_interval = uint32_t(c.val.u);
        break;
      case kOExpire:
        cfg_.expire = uint32_t(c.val.u);
        break;
      case kORateMatch:
        cfg_.mode |= kRateMatch;
        break;
      case kOInterval: {
        const int r = atoi(c.arg.c_str());
        if (r <= 0)
          throw ParseError(BadValue("--hashlimit-rate-interval", c.arg));
        cfg_.interval = uint32_t(r);
        break;
      }
    }
  }

  void FinalCheck(FcheckCall& c) override {
    auto has = [&](unsigned id) { return (c.xflags & (1u << id)) != 0; };
    if (!has(kOUpto) && !has(kOAbove))
      throw ParseError("You have to specify --hashlimit");
    if (!has(kOExpire)) cfg_.expire = mult_ * 1000;
    if (cfg_.mode & kBytes) {
      uint32_t burst = 0;
      if (has(kOBurst)) {
        const uint64_t unit = CostToBytes(cfg_.avg);
        if (cfg_.burst < unit)
          throw ParseError(
              fmt::format("burst cannot be smaller than {}b", unit));
        // The quotient goes through a 32-bit variable, as in iptables.
        burst = uint32_t(cfg_.burst);
        burst /= uint32_t(unit);
        if (cfg_.burst % unit) ++burst;
        if (!has(kOExpire)) cfg_.expire = kByteExpireBurst * 1000;
      }
      cfg_.burst = burst;
    } else if (cfg_.burst > kBurstMax) {
      throw ParseError(fmt::format(
          "bad value for option \"--hashlimit-burst\", or out of range (1-{}).",
          kBurstMax));
    }
    if (has(kORateMatch)) {
      if (!(cfg_.mode & kBytes)) cfg_.avg /= mult_;
      if (cfg_.interval == 0) cfg_.interval = (cfg_.mode & kBytes) ? 1 : mult_;
    }
  }

  void Check(const CheckCtx& c) override {
    CheckName();
    if (cfg_.gc_interval == 0 || cfg_.expire == 0)
      throw CommitError("hashlimit: gcinterval and expire must not be 0");
    // The kernel caps these in the rule itself (iptables-save shows it).
    if (cfg_.size > kMaxSize) cfg_.size = kMaxSize;
    if (cfg_.max > kMaxSize) cfg_.max = kMaxSize;
    const unsigned bits = c.family == Family::kIPv4 ? 32 : 128;
    if (cfg_.srcmask > bits || cfg_.dstmask > bits)
      throw CommitError("hashlimit: srcmask / dstmask too long");
    if (cfg_.mode & kRateMatch) {
      if (cfg_.avg == 0 || cfg_.avg > 0xFFFFFFFFu)
        throw CommitError("hashlimit: invalid rate");
      if (cfg_.interval == 0) throw CommitError("hashlimit: invalid interval");
    } else if (cfg_.mode & kBytes) {
      if (UserToCreditsByte(uint32_t(cfg_.avg)) == 0)
        throw CommitError(
            fmt::format("hashlimit: overflow, rate too high: {}", cfg_.avg));
    } else if (cfg_.burst == 0 ||
               UserToCredits(cfg_.avg * cfg_.burst) < UserToCredits(cfg_.avg)) {
      throw CommitError(fmt::format("hashlimit: overflow, try lower: {}/{}",
                                    cfg_.avg, cfg_.burst));
    }
    static ExtScope global;
    ExtScope* scope = c.scope ? c.scope : &global;
    const std::string key = fmt::format(
        "hashlimit/{}/{}", c.family == Family::kIPv4 ? 4 : 6, name_);
    const Config cfg = cfg_;
    table_ = std::static_pointer_cast<HTable>(scope->Get(key, [&cfg] {
      auto t = std::make_shared<HTable>();
      t->cfg = cfg;
      t->cfg.size = cfg.size ? cfg.size : kAutoSize;
      t->max = cfg.max == 0            ? 8 * t->cfg.size
               : cfg.max < t->cfg.size ? t->cfg.size
                                       : cfg.max;
      // The collector first runs one interval after the load (t = 0).
      t->next_gc = Jiffies(0) + MsecsToJiffies(cfg.gc_interval);
      return t;
    }));
  }

  void Save(SaveCtx& s) const override {
    std::string& o = s.out;
    const unsigned dmask = s.family == Family::kIPv4 ? 32 : 128;
    o += (cfg_.mode & kInvert) ? " --hashlimit-above" : " --hashlimit-upto";
    uint32_t quantum;
    if (cfg_.mode & kBytes) {
      quantum = PrintBytes(o, cfg_.avg, cfg_.burst, "--hashlimit-");
    } else {
      quantum = PrintRate(o, cfg_.avg);
      o += fmt::format(" --hashlimit-burst {}", cfg_.burst);
    }
    if (cfg_.mode & kHashAny) {
      o += " --hashlimit-mode";
      PrintMode(o, cfg_.mode);
    }
    o += " --hashlimit-name " + name_;
    if (cfg_.size) o += fmt::format(" --hashlimit-htable-size {}", cfg_.size);
    if (cfg_.max) o += fmt::format(" --hashlimit-htable-max {}", cfg_.max);
    if (cfg_.gc_interval != kDefaultGcInterval)
      o += fmt::format(" --hashlimit-htable-gcinterval {}", cfg_.gc_interval);
    if (cfg_.expire != quantum)
      o += fmt::format(" --hashlimit-htable-expire {}", cfg_.expire);
    if (cfg_.srcmask != dmask)
      o += fmt::format(" --hashlimit-srcmask {}", cfg_.srcmask);
    if (cfg_.dstmask != dmask)
      o += fmt::format(" --hashlimit-dstmask {}", cfg_.dstmask);
    if (cfg_.mode & kRateMatch) {
      o += " --hashlimit-rate-match";
      if (cfg_.interval != 1)
        o += fmt::format(" --hashlimit-rate-interval {}", cfg_.interval);
    }
  }

  bool Matches(XtParams& p) const override {
    if (!table_) return false;
    HTable& t = *table_;
    Key key;
    if (!MakeKey(t.cfg, p, key)) {
      p.hotdrop = true;
      return false;
    }
    const int64_t now = Jiffies(p.state ? p.state->now : p.skb->tstamp);
    std::lock_guard<std::mutex> lock(t.mu);
    t.Gc(now);
    auto it = t.buckets.find(key);
    if (it == t.buckets.end()) {
      if (t.buckets.size() >= t.max) {
        // The table is full: the kernel drops the packet.
        p.hotdrop = true;
        return false;
      }
      it = t.buckets.emplace(key, Bucket{}).first;
      it->second.expires = now + MsecsToJiffies(t.cfg.expire);
      t.Init(it->second, now);
    } else {
      it->second.expires = now + MsecsToJiffies(t.cfg.expire);
      t.Recalc(it->second, now);
    }
    Bucket& b = it->second;
    const bool under = !(cfg_.mode & kInvert);
    const uint64_t len = p.skb->data.size();
    if (cfg_.mode & kRateMatch) {
      b.current_rate += (cfg_.mode & kBytes) ? len : 1;
      if (!b.prev_window && b.current_rate <= uint64_t(b.burst)) return under;
      return !under;
    }
    uint64_t cost;
    if (cfg_.mode & kBytes) {
      cost = ((len >> kByteShift) + 1) * b.cost;
      if (cost > kCpjBytes * kHz) cost = kCpjBytes * kHz;
      if (b.credit < cost && b.credit_cap) {
        --b.credit_cap;
        b.credit = kCpjBytes * kHz;
      }
      cost = uint32_t(cost);
    } else {
      cost = b.cost;
    }
    if (b.credit >= cost) {
      b.credit -= cost;
      return under;
    }
    return !under;
  }

 private:
  void ParseMode(const std::string& arg) {
    size_t p = 0;
    while (p <= arg.size()) {
      size_t e = arg.find_first_of(",|", p);
      std::string tok =
          arg.substr(p, e == std::string::npos ? std::string::npos : e - p);
      p = e == std::string::npos ? arg.size() + 1 : e + 1;
      if (tok.empty()) continue;  // strtok skips empty fields
      if (tok == "dstip")
        cfg_.mode |= kHashDip;
      else if (tok == "srcip")
        cfg_.mode |= kHashSip;
      else if (tok == "srcport")
        cfg_.mode |= kHashSpt;
      else if (tok == "dstport")
        cfg_.mode |= kHashDpt;
      else
        throw ParseError(BadValue("--hashlimit-mode", arg));
    }
  }

  // CheckName is xt_check_proc_name: the name becomes a /proc file.
  void CheckName() const {
    if (name_.empty() || name_ == "." || name_ == ".." ||
        name_.find('/') != std::string::npos)
      throw CommitError("hashlimit: invalid name \"" + name_ + "\"");
  }

  // MakeKey is hashlimit_init_dst, with the table's mode and masks.
  bool MakeKey(const Config& cfg, const XtParams& p, Key& k) const {
    const Packet& skb = *p.skb;
    const bool v4 = family_ == Family::kIPv4;
    const size_t alen = v4 ? 4 : 16;
    const uint8_t* h = skb.HeaderPointer(0, v4 ? 20 : 40);
    if (h == nullptr) return false;
    const uint8_t* saddr = h + (v4 ? 12 : 8);
    const uint8_t* daddr = h + (v4 ? 16 : 24);
    if (cfg.mode & kHashDip) {
      std::memcpy(k.dst.data(), daddr, alen);
      MaskPrefix(k.dst, alen, cfg.dstmask);
    }
    if (cfg.mode & kHashSip) {
      std::memcpy(k.src.data(), saddr, alen);
      MaskPrefix(k.src, alen, cfg.srcmask);
    }
    if (!(cfg.mode & (kHashDpt | kHashSpt))) return true;
    const uint8_t proto = v4 ? h[9] : p.l4proto;
    const int off = PortsOffset(proto);
    uint16_t ports[2] = {0, 0};
    if (off >= 0) {
      const uint8_t* ph = skb.HeaderPointer(p.thoff + off, 4);
      if (ph == nullptr) return false;
      ports[0] = Load16(ph);
      ports[1] = Load16(ph + 2);
    }
    if (cfg.mode & kHashSpt) k.sport = ports[0];
    if (cfg.mode & kHashDpt) k.dport = ports[1];
    return true;
  }

  Config cfg_;
  std::string name_;
  uint32_t mult_ = 0;  // the rate's unit in seconds (iptables' udata)
  Family family_ = Family::kIPv4;
  std::shared_ptr<HTable> table_;
};

// The kernel struct (revision 3) holds char name[NAME_MAX].
constexpr size_t kNameLen = 254;
const unsigned kInv = kOptInvert;

std::vector<OptionEntry> Options() {
  const unsigned fupto = 1u << kOUpto, fabove = 1u << kOAbove;
  return {
      {"hashlimit-upto", kOUpto, OptType::kString, kInv, fabove},
      {"hashlimit-above", kOAbove, OptType::kString, kInv, fupto},
      {"hashlimit", kOUpto, OptType::kString, kInv, fabove},
      {"hashlimit-srcmask", kOSrcMask, OptType::kPlen},
      {"hashlimit-dstmask", kODstMask, OptType::kPlen},
      {"hashlimit-burst", kOBurst, OptType::kString},
      {"hashlimit-htable-size", kOSize, OptType::kUint32},
      {"hashlimit-htable-max", kOMax, OptType::kUint32},
      {"hashlimit-htable-gcinterval", kOGcInterval, OptType::kUint32},
      {"hashlimit-htable-expire", kOExpire, OptType::kUint32},
      {"hashlimit-mode", kOMode, OptType::kString},
      {.name = "hashlimit-name",
       .id = kOName,
       .type = OptType::kString,
       .flags = kOptMand,
       .min = 1,
       .maxlen = kNameLen},
      {"hashlimit-rate-match", kORateMatch, OptType::kNone},
      {"hashlimit-rate-interval", kOInterval, OptType::kString},
  };
}

NETFENCE_REGISTER(RegisterMatch({
    .name = "hashlimit",
    .revision = 3,
    .family = Family::kIPv4,
    .options = Options(),
    .create = [] { return std::make_unique<HashlimitMatch>(Family::kIPv4); },
}));

NETFENCE_REGISTER(RegisterMatch({
    .name = "hashlimit",
    .revision = 3,
    .family = Family::kIPv6,
    .options = Options(),
    .create = [] { return std::make_unique<HashlimitMatch>(Family::kIPv6); },
}));

}  // namespace
}  // namespace netfence::ext
