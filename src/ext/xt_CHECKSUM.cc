// CHECKSUM target: fills in a transport checksum the stack left for the
// NIC to compute (xt_CHECKSUM: skb_checksum_help on CHECKSUM_PARTIAL).
// Packets in the simulation never carry a pending offloaded checksum: the
// ones that arrive are complete, and local raw sends are checksummed by
// their sender. So the target has nothing to fill and lets the packet go on
// unchanged, as the kernel does for such packets.
#include "core/xt.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

enum OptId : unsigned { kFill = 0 };
constexpr uint8_t kOpFill = 0x01;  // XT_CHECKSUM_OP_FILL

class ChecksumTarget : public Target {
 public:
  void Parse(OptCall&) override { operation_ = kOpFill; }

  void Check(const CheckCtx&) override {
    if (operation_ & ~kOpFill)
      throw CommitError("CHECKSUM: unsupported CHECKSUM operation");
    if (operation_ == 0) throw CommitError("CHECKSUM: no operation");
  }

  void Save(SaveCtx& s) const override {
    if (operation_ & kOpFill) s.out += " --checksum-fill";
  }

  Verdict Run(XtParams&) const override { return Verdict::kContinue; }

 private:
  uint8_t operation_ = 0;
};

NETFENCE_REGISTER(RegisterTarget({
    .name = "CHECKSUM",
    .options = {{"checksum-fill", kFill, OptType::kNone, kOptMand}},
    .table = "mangle",
    .create = [] { return std::make_unique<ChecksumTarget>(); },
}));

}  // namespace
}  // namespace netfence::ext
