// comment match: a note attached to a rule; it always matches
// (xt_comment).
#include "core/xt.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

// The kernel struct holds XT_MAX_COMMENT_LEN (256) bytes with the
// terminating NUL, so iptables keeps at most 255 characters.
constexpr size_t kMaxCommentLen = 255;

class CommentMatch : public Match {
 public:
  void Parse(OptCall& c) override { comment_ = c.arg; }

  void Save(SaveCtx& s) const override {
    s.out += " --comment";
    SaveString(s.out, comment_);
  }

  bool Matches(XtParams& p) const override { return true; }

 private:
  std::string comment_;
};

NETFENCE_REGISTER(RegisterMatch({
    .name = "comment",
    .options = {{.name = "comment",
                 .id = 0,
                 .type = OptType::kString,
                 .flags = kOptMand,
                 .maxlen = kMaxCommentLen}},
    .create = [] { return std::make_unique<CommentMatch>(); },
}));

}  // namespace
}  // namespace netfence::ext
