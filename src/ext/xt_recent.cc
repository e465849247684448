// recent match: lists of recently seen addresses with their last packet
// times, named and shared by every rule that uses the name (xt_recent,
// revision 1). Times are jiffies at CONFIG_HZ=250 from the packets'
// timestamps; a list keeps at most 100 addresses (ip_list_tot) and evicts
// the least recently seen.
#include <fmt/format.h>

#include <cmath>
#include <cstring>
#include <list>
#include <mutex>
#include <vector>

#include "core/addr.h"
#include "core/xt.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

enum OptId : unsigned {
  kOSet,
  kORcheck,
  kOUpdate,
  kORemove,
  kOSeconds,
  kOReap,
  kOHitcount,
  kORttl,
  kOName,
  kORsource,
  kORdest,
  kOMask,
};

// check_set bits (XT_RECENT_*).
enum : uint8_t {
  kCheck = 1 << 0,
  kSet = 1 << 1,
  kUpdate = 1 << 2,
  kRemove = 1 << 3,
  kTtl = 1 << 4,
  kReap = 1 << 5,
};

constexpr int64_t kHz = 250;
constexpr unsigned kListTot = 100;      // ip_list_tot
constexpr uint32_t kMaxStamps = 65536;  // XT_RECENT_MAX_NSTAMPS
constexpr size_t kNameLen = 199;        // char name[XT_RECENT_NAME_LEN]

int64_t Jiffies(double t) { return int64_t(std::floor(t * kHz + 1e-6)); }

// TimeAfter is time_after(a, b) on wrapping counters.
bool TimeAfter(int64_t a, int64_t b) { return b - a < 0; }

// Entry is one recent_entry.
struct Entry {
  Addr addr;
  Family family;
  uint8_t ttl = 0;
  uint16_t index = 0;
  uint16_t nstamps = 0;
  std::vector<int64_t> stamps;
};

// List is one recent_table; its mask is the one of the rule that created
// it. Entries are kept in least-recently-seen order.
struct List {
  std::mutex mu;
  Addr mask;
  uint32_t nstamps_max_mask = 0;
  std::list<Entry> lru;

  std::list<Entry>::iterator Find(const Addr& a, Family f, uint8_t ttl) {
    for (auto it = lru.begin(); it != lru.end(); ++it)
      if (it->family == f && it->addr == a &&
          (ttl == it->ttl || ttl == 0 || it->ttl == 0))
        return it;
    return lru.end();
  }

  void Add(const Addr& a, Family f, uint8_t ttl, int64_t now) {
    if (lru.size() >= kListTot) lru.pop_front();
    Entry e;
    e.addr = a;
    e.family = f;
    e.ttl = ttl;
    e.stamps.assign(nstamps_max_mask + 1, 0);
    e.stamps[0] = now;
    e.nstamps = 1;
    e.index = 1;
    lru.push_back(std::move(e));
  }

  void Update(std::list<Entry>::iterator it, int64_t now) {
    Entry& e = *it;
    e.index &= nstamps_max_mask;
    e.stamps[e.index++] = now;
    if (e.index > e.nstamps) e.nstamps = e.index;
    lru.splice(lru.end(), lru, it);
  }

  // Reap drops the least recently seen entry when it is older than time.
  void Reap(int64_t time, std::list<Entry>::iterator working, bool update) {
    if (lru.empty()) return;
    auto oldest = lru.begin();
    if (oldest == working && update) return;
    if (TimeAfter(time, oldest->stamps[oldest->index - 1])) lru.erase(oldest);
  }
};

uint32_t RoundUpPow2(uint32_t x) {
  uint32_t p = 1;
  while (p < x) p <<= 1;
  return p;
}

// RecentMatch is one -m recent: the operation, its modifiers and the
// named list it shares.
class RecentMatch : public Match {
 public:
  RecentMatch() { mask_.b.fill(0xff); }

  void Parse(OptCall& c) override {
    switch (c.id()) {
      case kOSet:
        SetOp(kSet, c.invert);
        break;
      case kORcheck:
        SetOp(kCheck, c.invert);
        break;
      case kOUpdate:
        SetOp(kUpdate, c.invert);
        break;
      case kORemove:
        SetOp(kRemove, c.invert);
        break;
      case kOSeconds:
        seconds_ = uint32_t(c.val.u);
        break;
      case kOReap:
        check_set_ |= kReap;
        break;
      case kOHitcount:
        hit_count_ = uint32_t(c.val.u);
        break;
      case kORttl:
        check_set_ |= kTtl;
        break;
      case kOName:
        name_ = c.arg;
        break;
      case kORsource:
        dest_ = false;
        break;
      case kORdest:
        dest_ = true;
        break;
      case kOMask:
        mask_ = c.val.haddr;
        break;
    }
  }

  void FinalCheck(FcheckCall& c) override {
    const unsigned any =
        (1u << kOSet) | (1u << kORcheck) | (1u << kOUpdate) | (1u << kORemove);
    if (!(c.xflags & any))
      throw ParseError(
          "recent: you must specify one of `--set', `--rcheck' `--update' or "
          "`--remove'");
  }

  void Check(const CheckCtx& c) override {
    if ((check_set_ & (kSet | kRemove)) &&
        (seconds_ || hit_count_ || (check_set_ & (kTtl | kReap))))
      throw CommitError(
          "recent: --set and --remove take no --seconds, --hitcount, --rttl "
          "or --reap");
    if ((check_set_ & kReap) && !seconds_)
      throw CommitError("recent: --reap needs --seconds");
    if (hit_count_ >= kMaxStamps)
      throw CommitError(fmt::format(
          "recent: hitcount ({}) is larger than allowed maximum ({})",
          hit_count_, kMaxStamps - 1));
    if (name_.empty() || name_ == "." || name_ == ".." ||
        name_.find('/') != std::string::npos)
      throw CommitError("recent: invalid name \"" + name_ + "\"");
    const uint32_t nstamp_mask =
        hit_count_ ? RoundUpPow2(hit_count_) - 1 : 32 - 1;
    static ExtScope global;
    ExtScope* scope = c.scope ? c.scope : &global;
    // Lists are found by name alone: IPv4 and IPv6 rules share them.
    const Addr mask = mask_;
    list_ = std::static_pointer_cast<List>(scope->Get("recent/" + name_, [&] {
      auto l = std::make_shared<List>();
      l->mask = mask;
      l->nstamps_max_mask = nstamp_mask;
      return l;
    }));
    std::lock_guard<std::mutex> lock(list_->mu);
    if (nstamp_mask > list_->nstamps_max_mask) {
      // A rule that needs more timestamps empties the list.
      list_->lru.clear();
      list_->nstamps_max_mask = nstamp_mask;
    }
  }

  void Save(SaveCtx& s) const override {
    std::string& o = s.out;
    if (invert_) o += " !";
    if (check_set_ & kSet) o += " --set";
    if (check_set_ & kCheck) o += " --rcheck";
    if (check_set_ & kUpdate) o += " --update";
    if (check_set_ & kRemove) o += " --remove";
    // iptables prints these with %d.
    if (seconds_) o += fmt::format(" --seconds {}", int32_t(seconds_));
    if (check_set_ & kReap) o += " --reap";
    if (hit_count_) o += fmt::format(" --hitcount {}", int32_t(hit_count_));
    if (check_set_ & kTtl) o += " --rttl";
    o += " --name " + name_;
    o += " --mask " + FormatAddr(s.family, mask_);
    o += dest_ ? " --rdest" : " --rsource";
  }

  bool Matches(XtParams& p) const override {
    if (!list_) return false;
    const Packet& skb = *p.skb;
    const Family f = skb.family;
    const bool v4 = f == Family::kIPv4;
    const uint8_t* h = skb.HeaderPointer(0, v4 ? 20 : 40);
    if (h == nullptr) return false;
    Addr addr;
    const size_t alen = v4 ? 4 : 16;
    std::memcpy(addr.b.data(), h + (v4 ? (dest_ ? 16 : 12) : (dest_ ? 24 : 8)),
                alen);
    uint8_t ttl = v4 ? h[8] : h[7];
    // The TTL as it was before forwarding decremented it.
    if (p.state && p.state->out != nullptr && !skb.sk) ++ttl;

    const int64_t now = Jiffies(p.state ? p.state->now : skb.tstamp);
    List& t = *list_;
    std::lock_guard<std::mutex> lock(t.mu);
    const Addr key = ApplyMask(addr, t.mask);
    bool ret = invert_;
    auto e = t.Find(key, f, (check_set_ & kTtl) ? ttl : 0);
    if (e == t.lru.end()) {
      if (!(check_set_ & kSet)) return ret;
      t.Add(key, f, ttl, now);
      return !ret;
    }
    if (check_set_ & kSet) {
      ret = !ret;
    } else if (check_set_ & kRemove) {
      t.lru.erase(e);
      return !ret;
    } else if (check_set_ & (kCheck | kUpdate)) {
      const int64_t time = now - int64_t(seconds_) * kHz;
      unsigned hits = 0;
      for (unsigned i = 0; i < e->nstamps; ++i) {
        if (seconds_ && TimeAfter(time, e->stamps[i])) continue;
        if (!hit_count_ || ++hits >= hit_count_) {
          ret = !ret;
          break;
        }
      }
      // The entry itself may be reaped, but only when it is not updated
      // below.
      if (check_set_ & kReap) t.Reap(time, e, (check_set_ & kUpdate) && ret);
    }
    if ((check_set_ & kSet) || ((check_set_ & kUpdate) && ret)) {
      t.Update(e, now);
      e->ttl = ttl;
    }
    return ret;
  }

 private:
  void SetOp(uint8_t op, bool invert) {
    check_set_ |= op;
    if (invert) invert_ = true;
  }

  uint8_t check_set_ = 0;
  bool invert_ = false;
  uint32_t seconds_ = 0, hit_count_ = 0;
  std::string name_ = "DEFAULT";
  bool dest_ = false;
  Addr mask_;
  std::shared_ptr<List> list_;
};

std::vector<OptionEntry> Options() {
  const unsigned fset = 1u << kOSet, fremove = 1u << kORemove;
  const unsigned any = fset | (1u << kORcheck) | (1u << kOUpdate) | fremove;
  return {
      {"set", kOSet, OptType::kNone, kOptInvert, any},
      {"rcheck", kORcheck, OptType::kNone, kOptInvert, any},
      {"update", kOUpdate, OptType::kNone, kOptInvert, any},
      {"remove", kORemove, OptType::kNone, kOptInvert, any},
      {.name = "seconds", .id = kOSeconds, .type = OptType::kUint32, .min = 1},
      {.name = "reap",
       .id = kOReap,
       .type = OptType::kNone,
       .also = 1u << kOSeconds},
      {"hitcount", kOHitcount, OptType::kUint32},
      {"rttl", kORttl, OptType::kNone, 0, fset | fremove},
      {.name = "name",
       .id = kOName,
       .type = OptType::kString,
       .maxlen = kNameLen},
      {"rsource", kORsource, OptType::kNone},
      {"rdest", kORdest, OptType::kNone},
      {"mask", kOMask, OptType::kHost},
  };
}

NETFENCE_REGISTER(RegisterMatch({
    .name = "recent",
    .revision = 1,
    .options = Options(),
    .create = [] { return std::make_unique<RecentMatch>(); },
}));

}  // namespace
}  // namespace netfence::ext
