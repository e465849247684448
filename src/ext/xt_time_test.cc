// Date, daytime and day tests of the time match, on the packet clock
// (seconds since the epoch, UTC).
#include <gtest/gtest.h>

#include "core/restore.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

struct Loaded {
  std::unique_ptr<Ruleset> rs;
  const Match* m = nullptr;
};

Loaded Load(const std::string& rule) {
  static const BuiltinResolver kResolver;
  RestoreOptions o{Family::kIPv4, &kResolver, "test"};
  Loaded r;
  r.rs = Restore("*filter\n-A INPUT " + rule + "\nCOMMIT\n", o);
  r.m = r.rs->FindTable("filter")
            ->FindChain("INPUT")
            ->rules[0]
            .matches.back()
            .match.get();
  return r;
}

bool At(const Match& m, double now) {
  Packet pkt;
  HookState st;
  st.now = now;
  XtParams p;
  p.skb = &pkt;
  p.state = &st;
  return m.Matches(p);
}

constexpr double kHour = 3600, kDay = 86400;
// 1970-01-01 was a Thursday; 1970-01-05 a Monday.
constexpr double kMonday = 4 * kDay;

TEST(TimeMatch, Daytime) {
  auto r = Load("-m time --timestart 08:00 --timestop 17:00");
  EXPECT_FALSE(At(*r.m, 7 * kHour + 3599));
  EXPECT_TRUE(At(*r.m, 8 * kHour));
  EXPECT_TRUE(At(*r.m, 17 * kHour));  // inclusive
  EXPECT_FALSE(At(*r.m, 17 * kHour + 1));
}

TEST(TimeMatch, OvernightAndContiguous) {
  auto night =
      Load("-m time --timestart 23:00 --timestop 01:00 --weekdays Mon");
  auto cont = Load(
      "-m time --timestart 23:00 --timestop 01:00 --weekdays Mon "
      "--contiguous");
  // Tuesday 00:30 belongs to Monday's window only with --contiguous.
  EXPECT_FALSE(At(*night.m, kMonday + kDay + 0.5 * kHour));
  EXPECT_TRUE(At(*cont.m, kMonday + kDay + 0.5 * kHour));
  EXPECT_TRUE(At(*night.m, kMonday + 23.5 * kHour));
  EXPECT_FALSE(At(*night.m, kMonday + 12 * kHour));
}

TEST(TimeMatch, WeekdaysAndMonthdays) {
  auto wd = Load("-m time ! --weekdays Sat,Sun");
  EXPECT_TRUE(At(*wd.m, kMonday));
  EXPECT_FALSE(At(*wd.m, kMonday + 5 * kDay));  // Saturday
  auto md = Load("-m time --monthdays 1,31");
  EXPECT_TRUE(At(*md.m, 0));              // 1 January
  EXPECT_FALSE(At(*md.m, kDay));          // 2 January
  EXPECT_TRUE(At(*md.m, 30 * kDay + 5));  // 31 January
  EXPECT_TRUE(At(*md.m, 31 * kDay + 5));  // 1 February
}

TEST(TimeMatch, DateRange) {
  auto r =
      Load("-m time --datestart 1970-01-02 --datestop 1970-01-03T12:00:00");
  EXPECT_FALSE(At(*r.m, kDay - 1));
  EXPECT_TRUE(At(*r.m, kDay));
  EXPECT_TRUE(At(*r.m, 2.5 * kDay));
  EXPECT_FALSE(At(*r.m, 2.5 * kDay + 1));
}

TEST(TimeMatch, SaveForms) {
  auto r = Load("-m time --timestart 8:0 --timestop 17:00:30 --monthdays 2,1");
  EXPECT_NE(
      Save(*r.rs, false)
          .find("-m time --timestart 08:00:00 --timestop 17:00:30 --monthdays "
                "1,2 --datestop 2038-01-19T03:14:07\n"),
      std::string::npos)
      << Save(*r.rs, false);
  EXPECT_THROW(Load("-m time --timestart 24:00"), RestoreError);
  EXPECT_THROW(Load("-m time --weekdays 0"), RestoreError);
  EXPECT_THROW(Load("-m time --timestart 1:00 --timestop 2:00 --contiguous"),
               RestoreError);
}

}  // namespace
}  // namespace netfence::ext
