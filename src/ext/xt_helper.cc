// helper match: the conntrack helper (ftp, sip, ...) of the connection that
// expected this one (xt_helper).
#include <cstring>

#include "core/conn.h"
#include "core/xt.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

enum OptId : unsigned { kOHelper };

// The kernel struct holds char name[30].
constexpr size_t kNameLen = 29;

// HelperMatch is one -m helper: the helper name, maybe inverted.
class HelperMatch : public Match {
 public:
  void Parse(OptCall& c) override {
    name_ = c.arg;
    if (c.invert) invert_ = true;
  }

  void Save(SaveCtx& s) const override {
    if (invert_) s.out += " !";
    s.out += " --helper";
    SaveString(s.out, name_);
  }

  bool Matches(XtParams& p) const override {
    const Packet& skb = *p.skb;
    const Conn* ct = skb.ctinfo == CtInfo::kUntracked ? nullptr : skb.ct;
    // Only an expected (related) connection has a master whose helper
    // created it.
    if (ct == nullptr || ct->master == nullptr) return invert_;
    const std::string& helper = ct->master->helper;
    if (helper.empty()) return invert_;
    if (name_.empty()) return !invert_;
    // strncmp over the helper's length: "ftp" also matches "ftp-2121".
    const bool same =
        strncmp(helper.c_str(), name_.c_str(), helper.size()) == 0;
    return same != invert_;
  }

 private:
  std::string name_;
  bool invert_ = false;
};

NETFENCE_REGISTER(RegisterMatch({
    .name = "helper",
    .options = {{.name = "helper",
                 .id = kOHelper,
                 .type = OptType::kString,
                 .flags = kOptMand | kOptInvert,
                 .maxlen = kNameLen}},
    .create = [] { return std::make_unique<HelperMatch>(); },
}));

}  // namespace
}  // namespace netfence::ext
