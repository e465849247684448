// TRACE target (xt_TRACE): marks the packet for tracing (skb->nf_trace);
// the engine then reports every rule the packet meets, as ipt_do_table's
// trace_packet does. The kernel accepts it only in the raw table.
#include "core/xt.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

class TraceTarget : public Target {
 public:
  Verdict Run(XtParams& p) const override {
    if (p.skb != nullptr) p.skb->nftrace = true;
    return Verdict::kContinue;
  }
};

NETFENCE_REGISTER(RegisterTarget({
    .name = "TRACE",
    .table = "raw",
    .create = [] { return std::make_unique<TraceTarget>(); },
}));

}  // namespace
}  // namespace netfence::ext
