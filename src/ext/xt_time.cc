// time match: the date, time of day, weekday and day of month a packet
// arrives at (xt_time). The clock is the simulation's: a packet's "t" in
// seconds is taken as seconds since 1970-01-01T00:00:00 UTC (the kernel
// reads the real-time clock). --kerneltz uses the kernel's time zone,
// which is UTC on the reference hosts.
#include <fmt/format.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include "core/xt.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

enum OptId : unsigned {
  kODateStart,
  kODateStop,
  kOTimeStart,
  kOTimeStop,
  kOContiguous,
  kOMonthdays,
  kOWeekdays,
  kOLocalTz,
  kOUtc,
  kOKernelTz,
};

enum : uint8_t { kLocalTz = 1 << 0, kContiguous = 1 << 1 };

constexpr uint32_t kAllMonthdays = 0xFFFFFFFE;
constexpr uint8_t kAllWeekdays = 0xFE;
constexpr uint32_t kMaxDaytime = 24 * 60 * 60 - 1;
constexpr uint32_t kIntMax = 0x7FFFFFFF;
constexpr int64_t kSecondsPerDay = 86400;
constexpr int kTzMinutesWest = 0;  // sys_tz of the reference kernel

const char* const kWeekDays[] = {nullptr, "Mon", "Tue", "Wed",
                                 "Thu",   "Fri", "Sat", "Sun"};

// DaysFromCivil counts days since 1970-01-01 of a proleptic Gregorian date.
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = unsigned(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + int64_t(doe) - 719468;
}

// CivilFromDays is the inverse: year, month (1-12) and day (1-31).
void CivilFromDays(int64_t z, int64_t& y, unsigned& m, unsigned& d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = unsigned(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  y = int64_t(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y += m <= 2;
}

// Strtoul reads a decimal number like strtoul(s, &end, 10).
unsigned long Strtoul(const char* s, const char** end, int base = 10) {
  char* e;
  unsigned long v = strtoul(s, &e, base);
  *end = e;
  return v;
}

// ParseDate is time_parse_date: YYYY[-MM[-DD[Thh[:mm[:ss]]]]] in UTC.
uint32_t ParseDate(const std::string& arg) {
  unsigned long month = 1, day = 1, hour = 0, minute = 0, second = 0;
  const char* s = arg.c_str();
  const char* e;
  auto bad = [&] {
    throw ParseError("Invalid date \"" + arg +
                     "\" specified. Should be YYYY[-MM[-DD[Thh[:mm[:ss]]]]]");
  };
  const unsigned long year = Strtoul(s, &e);
  if ((*e != '-' && *e != '\0') || year < 1970 || year > 2038) bad();
  if (*e != '\0') {
    month = Strtoul(e + 1, &e);
    if ((*e != '-' && *e != '\0') || month > 12) bad();
  }
  if (*e != '\0') {
    day = Strtoul(e + 1, &e);
    if ((*e != 'T' && *e != '\0') || day > 31) bad();
  }
  if (*e != '\0') {
    hour = Strtoul(e + 1, &e);
    if ((*e != ':' && *e != '\0') || hour > 23) bad();
  }
  if (*e != '\0') {
    minute = Strtoul(e + 1, &e);
    if ((*e != ':' && *e != '\0') || minute > 59) bad();
  }
  if (*e != '\0') {
    second = Strtoul(e + 1, &e);
    if (*e != '\0' || second > 59) bad();
  }
  // mktime normalises out-of-range fields (month 0, day 0, Feb 31).
  const int64_t mon0 = int64_t(month) - 1;
  const int64_t y = int64_t(year) + (mon0 < 0 ? -1 : 0);
  const unsigned m = unsigned(mon0 < 0 ? mon0 + 12 : mon0) + 1;
  const int64_t days = DaysFromCivil(y, m, 1) + int64_t(day) - 1;
  const int64_t t = days * kSecondsPerDay + int64_t(hour) * 3600 +
                    int64_t(minute) * 60 + int64_t(second);
  if (t < 0) throw ParseError("mktime returned an error");
  return uint32_t(t);  // the kernel field is 32 bits
}

// ParseDaytime is time_parse_minutes: hh:mm[:ss]; the error names the part
// that failed.
uint32_t ParseDaytime(const std::string& arg) {
  const char* s = arg.c_str();
  const char* e;
  auto bad = [&](const char* at) {
    throw ParseError(fmt::format(
        "invalid time \"{}\" specified, should be hh:mm[:ss] format and "
        "within the boundaries",
        at));
  };
  const unsigned long hour = Strtoul(s, &e);
  if (*e != ':' || hour > 23) bad(s);
  s = e + 1;
  const unsigned long minute = Strtoul(s, &e);
  if ((*e != ':' && *e != '\0') || minute > 59) bad(s);
  unsigned long second = 0;
  if (*e != '\0') {
    s = e + 1;
    second = Strtoul(s, &e);
    if (*e != '\0' || second > 59) bad(s);
  }
  return uint32_t(60 * 60 * hour + 60 * minute + second);
}

// Segments splits like my_strseg: at most max characters of each field
// survive, an empty argument yields nothing, a trailing comma ends it.
std::vector<std::string> Segments(const std::string& arg, size_t max) {
  std::vector<std::string> out;
  size_t p = 0;
  while (p < arg.size()) {
    size_t comma = arg.find(',', p);
    size_t end = comma == std::string::npos ? arg.size() : comma;
    out.push_back(arg.substr(p, std::min(end - p, max)));
    if (comma == std::string::npos) break;
    p = comma + 1;
  }
  return out;
}

uint32_t ParseMonthdays(const std::string& arg) {
  uint32_t ret = 0;
  for (const std::string& day : Segments(arg, 2)) {
    const char* e;
    const unsigned long i = Strtoul(day.c_str(), &e, 0);
    if ((*e != ',' && *e != '\0') || i > 31)
      throw ParseError(day + " is not a valid day for --monthdays");
    ret |= 1u << i;
  }
  return ret;
}

uint8_t ParseWeekdays(const std::string& arg) {
  unsigned ret = 0;
  for (const std::string& day : Segments(arg, 3)) {
    const char* e;
    const unsigned long i = Strtoul(day.c_str(), &e, 0);
    if (*e == '\0') {
      if (i == 0) throw ParseError("No, the week does NOT begin with Sunday.");
      ret |= 1u << (i & 31);  // the shift count wraps as on x86
      continue;
    }
    bool valid = false;
    for (unsigned d = 1; d < std::size(kWeekDays); ++d) {
      if (strncmp(day.c_str(), kWeekDays[d], 2) == 0) {
        ret |= 1u << d;
        valid = true;
      }
    }
    if (!valid) throw ParseError(day + " is not a valid day specifier");
  }
  return uint8_t(ret);  // the kernel field is 8 bits
}

std::string FormatDate(uint32_t date) {
  int64_t y;
  unsigned m, d;
  const int64_t days = int64_t(date) / kSecondsPerDay;
  const int64_t secs = int64_t(date) % kSecondsPerDay;
  CivilFromDays(days, y, m, d);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}", y, m, d,
                     secs / 3600, secs / 60 % 60, secs % 60);
}

std::string FormatDaytime(uint32_t t) {
  return fmt::format("{:02}:{:02}:{:02}", t / 3600, t / 60 % 60, t % 60);
}

// TimeMatch is one -m time: xt_time_info.
class TimeMatch : public Match {
 public:
  void Parse(OptCall& c) override {
    switch (c.id()) {
      case kODateStart:
        date_start_ = ParseDate(c.arg);
        break;
      case kODateStop:
        date_stop_ = ParseDate(c.arg);
        break;
      case kOTimeStart:
        daytime_start_ = ParseDaytime(c.arg);
        break;
      case kOTimeStop:
        daytime_stop_ = ParseDaytime(c.arg);
        break;
      case kOContiguous:
        flags_ |= kContiguous;
        break;
      case kOLocalTz:
      case kOKernelTz:
        flags_ |= kLocalTz;
        break;
      case kOMonthdays:
        monthdays_ = ParseMonthdays(c.arg);
        if (c.invert) monthdays_ ^= kAllMonthdays;
        break;
      case kOWeekdays:
        weekdays_ = ParseWeekdays(c.arg);
        if (c.invert) weekdays_ ^= kAllWeekdays;
        break;
    }
  }

  void FinalCheck(FcheckCall& c) override {
    if ((c.xflags & (1u << kOContiguous)) && daytime_start_ < daytime_stop_)
      throw ParseError(
          "time: --contiguous only makes sense when stoptime is smaller than "
          "starttime");
  }

  void Check(const CheckCtx& c) override {
    if (daytime_start_ > kMaxDaytime || daytime_stop_ > kMaxDaytime)
      throw CommitError(
          "time: invalid argument - start or stop time greater than 23:59:59");
  }

  void Save(SaveCtx& s) const override {
    std::string& o = s.out;
    if (daytime_start_ != 0 || daytime_stop_ != kMaxDaytime) {
      o += " --timestart " + FormatDaytime(daytime_start_);
      o += " --timestop " + FormatDaytime(daytime_stop_);
    }
    if (monthdays_ != kAllMonthdays) {
      o += " --monthdays ";
      bool first = true;
      for (unsigned i = 1; i <= 31; ++i) {
        if (!(monthdays_ & (1u << i))) continue;
        if (!first) o += ',';
        o += std::to_string(i);
        first = false;
      }
    }
    if (weekdays_ != kAllWeekdays) {
      o += " --weekdays ";
      bool first = true;
      for (unsigned i = 1; i <= 7; ++i) {
        if (!(weekdays_ & (1u << i))) continue;
        if (!first) o += ',';
        o += kWeekDays[i];
        first = false;
      }
    }
    // Only 0 counts as "no bound": the default stop (INT_MAX) differs
    // from LONG_MAX on 64-bit iptables and is printed.
    if (date_start_ != 0) o += " --datestart " + FormatDate(date_start_);
    if (date_stop_ != 0) o += " --datestop " + FormatDate(date_stop_);
    if (flags_ & kLocalTz) o += " --kerneltz";
    if (flags_ & kContiguous) o += " --contiguous";
  }

  bool Matches(XtParams& p) const override {
    const double now = p.state ? p.state->now : p.skb->tstamp;
    int64_t stamp = int64_t(std::floor(now));
    if (flags_ & kLocalTz) stamp -= 60 * kTzMinutesWest;
    if (stamp < int64_t(date_start_) || stamp > int64_t(date_stop_))
      return false;
    const uint32_t packet_time = uint32_t(stamp % kSecondsPerDay);
    if (daytime_start_ < daytime_stop_) {
      if (packet_time < daytime_start_ || packet_time > daytime_stop_)
        return false;
    } else {
      if (packet_time < daytime_start_ && packet_time > daytime_stop_)
        return false;
      // A window across midnight belongs to the day it started on.
      if ((flags_ & kContiguous) && packet_time <= daytime_stop_)
        stamp -= kSecondsPerDay;
    }
    const int64_t days = stamp / kSecondsPerDay;
    const unsigned weekday = unsigned((4 + days - 1) % 7 + 1);  // 1 = Monday
    if (!(weekdays_ & (1u << weekday))) return false;
    if (monthdays_ != kAllMonthdays) {
      int64_t y;
      unsigned m, d;
      CivilFromDays(days, y, m, d);
      if (!(monthdays_ & (1u << d))) return false;
    }
    return true;
  }

 private:
  uint32_t date_start_ = 0, date_stop_ = kIntMax;
  uint32_t daytime_start_ = 0, daytime_stop_ = kMaxDaytime;
  uint32_t monthdays_ = kAllMonthdays;
  uint8_t weekdays_ = kAllWeekdays;
  uint8_t flags_ = 0;
};

std::vector<OptionEntry> Options() {
  const unsigned futc = 1u << kOUtc, flocal = 1u << kOLocalTz,
                 fkernel = 1u << kOKernelTz;
  return {
      {"datestart", kODateStart, OptType::kString},
      {"datestop", kODateStop, OptType::kString},
      {"timestart", kOTimeStart, OptType::kString},
      {"timestop", kOTimeStop, OptType::kString},
      {"contiguous", kOContiguous, OptType::kNone},
      {"weekdays", kOWeekdays, OptType::kString, kOptInvert},
      {"monthdays", kOMonthdays, OptType::kString, kOptInvert},
      {"localtz", kOLocalTz, OptType::kNone, 0, futc},
      {"utc", kOUtc, OptType::kNone, 0, flocal | fkernel},
      {"kerneltz", kOKernelTz, OptType::kNone, 0, futc},
  };
}

NETFENCE_REGISTER(RegisterMatch({
    .name = "time",
    .options = Options(),
    .create = [] { return std::make_unique<TimeMatch>(); },
}));

}  // namespace
}  // namespace netfence::ext
