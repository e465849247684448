// NFQUEUE target (xt_NFQUEUE revision 3): hands the packet to a user-space
// queue. The simulation has no queue readers, so the kernel's answer for an
// unbound queue applies: the packet is dropped, or with --queue-bypass it
// goes on as if the table had accepted it (nf_queue returns -ESRCH and
// nf_hook_slow moves on to the next hook function).
#include <fmt/format.h>

#include "core/xt.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

enum OptId : unsigned {
  kQueueNum = 0,
  kQueueBalance,
  kQueueBypass,
  kCpuFanout
};

// NFQ_FLAG_* of xt_NFQ_info_v3.
enum NfqFlag : uint16_t { kFlagBypass = 0x01, kFlagCpuFanout = 0x02 };
constexpr uint16_t kFlagMask = 0x03;

class NfqueueTarget : public Target {
 public:
  void Parse(OptCall& c) override {
    switch (c.id()) {
      case kQueueNum:
        queuenum_ = uint16_t(c.val.u);
        break;
      case kQueueBalance: {
        if (c.val.nvals != 2) throw ParseError("Bad range \"" + c.arg + "\"");
        const auto lo = c.val.range[0], hi = c.val.range[1];
        if (lo >= hi)
          throw ParseError(fmt::format("{} should be less than {}", lo, hi));
        queuenum_ = uint16_t(lo);
        // A 16-bit field: 0:65535 wraps to 0, which the kernel refuses.
        queues_total_ = uint16_t(hi - lo + 1);
        break;
      }
      case kQueueBypass:
        flags_ |= kFlagBypass;
        break;
      case kCpuFanout:
        flags_ |= kFlagCpuFanout;
        break;
    }
  }

  void Check(const CheckCtx&) override {
    if (queues_total_ == 0)
      throw CommitError("NFQUEUE: number of total queues is 0");
    const uint32_t maxid = uint32_t(queues_total_) - 1 + queuenum_;
    if (maxid > 0xffff)
      throw CommitError(
          fmt::format("NFQUEUE: number of queues ({}) out of range (got {})",
                      queues_total_, maxid));
    if (flags_ & ~kFlagMask) throw CommitError("NFQUEUE: invalid flags");
  }

  void Save(SaveCtx& s) const override {
    if (queues_total_ > 1)
      s.out += fmt::format(" --queue-balance {}:{}", queuenum_,
                           unsigned(queues_total_) + queuenum_ - 1);
    else
      s.out += fmt::format(" --queue-num {}", queuenum_);
    if (flags_ & kFlagBypass) s.out += " --queue-bypass";
    if (flags_ & kFlagCpuFanout) s.out += " --queue-cpu-fanout";
  }

  Verdict Run(XtParams&) const override {
    // Which queue of a balance range the packet would go to does not
    // matter: none has a listener.
    return (flags_ & kFlagBypass) ? Verdict::kAccept : Verdict::kDrop;
  }

 private:
  uint16_t queuenum_ = 0;
  uint16_t queues_total_ = 1;
  uint16_t flags_ = 0;
};

NETFENCE_REGISTER(RegisterTarget({
    .name = "NFQUEUE",
    .revision = 3,
    .options = {{"queue-num", kQueueNum, OptType::kUint16, 0,
                 1u << kQueueBalance},
                // iptables declares a maximum of 65534 that its range
                // parser never applies.
                {"queue-balance", kQueueBalance, OptType::kUint16Rc, 0,
                 1u << kQueueNum},
                {"queue-bypass", kQueueBypass, OptType::kNone},
                {"queue-cpu-fanout", kCpuFanout, OptType::kNone, 0, 0,
                 1u << kQueueBalance}},
    .create = [] { return std::make_unique<NfqueueTarget>(); },
}));

}  // namespace
}  // namespace netfence::ext
