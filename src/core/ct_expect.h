// Conntrack expectations (nf_conntrack_expect): connections a helper has
// announced on a master connection (an FTP data connection, a TFTP
// transfer, the replies to a NetBIOS broadcast). A new connection whose
// original tuple matches one becomes RELATED to that master instead of NEW.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/conn.h"

namespace netfence::core {

// CtExpectation is one expected connection: its tuple, compared under a mask
// on the source (address and port; the destination, protocol and family
// are exact), the master that expects it, its zone (the master's) and when
// its timer fires.
struct CtExpectation {
  Tuple tuple;
  Addr src_mask;            // address bits compared (all zero: any source)
  uint16_t sport_mask = 0;  // 0: any source port
  Conn* master = nullptr;
  uint16_t zone = 0;
  uint8_t cls = 0;         // the helper's expectation class
  bool permanent = false;  // NF_CT_EXPECT_PERMANENT: fulfilled many times
  double expires = 0;      // absolute time the timer fires
};

// CtExpectPolicy is a helper's nf_conntrack_expect_policy for one class.
struct CtExpectPolicy {
  unsigned max_expected = 0;  // per master and class (0: no limit)
  double timeout = 0;         // seconds an expectation lives
};

// Results of CtExpectTable::Related (the kernel's negative errnos).
inline constexpr int kExpectAlready = -114;  // -EALREADY
inline constexpr int kExpectBusy = -16;      // -EBUSY
inline constexpr int kExpectFull = -24;      // -EMFILE

// CtExpectTable is one namespace's expectation table. Not thread-safe: the
// owning Conntrack's mutex guards it.
class CtExpectTable {
 public:
  // max is nf_conntrack_expect_max (expect_hashsize 1024 * 4).
  explicit CtExpectTable(size_t max = 4096) : max_(max) {}

  // Related inserts an expectation as nf_ct_expect_related does: the same
  // expectation from the same master replaces the old one, one that would
  // clash with another master's fails (kExpectBusy), the master's oldest of
  // the class is evicted at the policy's max_expected. Returns 0 or a
  // negative kExpect* value.
  int Related(CtExpectation e, const CtExpectPolicy& p, double now);
  // Find is nf_ct_find_expectation: the newest expectation a new
  // connection's original tuple fulfils (in its zone) whose master is
  // confirmed and alive. It is taken out of the table unless permanent.
  bool Find(const Tuple& t, uint16_t zone, double now, CtExpectation* out);
  // RemoveMaster drops every expectation of a master (it is being
  // destroyed: nf_ct_remove_expectations).
  void RemoveMaster(const Conn* master);
  // List prints the table as /proc/net/nf_conntrack_expect does (one line
  // per expectation, newest first), helper naming the master's helper.
  std::vector<std::string> List(double now) const;
  // Size counts the live expectations at time now.
  size_t Size(double now);
  bool empty() const { return v_.empty(); }

 private:
  void Expire(double now);
  size_t max_;
  std::vector<CtExpectation> v_;  // newest first (hlist_add_head order)
};

// ExpectMatches is nf_ct_tuple_mask_cmp: t is the tuple e expects.
bool ExpectMatches(const CtExpectation& e, const Tuple& t);

}  // namespace netfence::core
