// nfacct match: counts packets in a named nfnetlink accounting object
// (xt_nfacct). A fresh host has no such objects and the simulation offers
// no way to create one, so every rule using it is refused at commit, as the
// kernel refuses it (ENOENT).
#include "core/xt.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

enum OptId : unsigned { kOName };

// The kernel struct holds char name[NFACCT_NAME_MAX] (32).
constexpr size_t kNameLen = 31;

// NfacctMatch is one -m nfacct: the accounting object's name.
class NfacctMatch : public Match {
 public:
  void Parse(OptCall& c) override {
    if (c.arg.find('\n') != std::string::npos)
      throw ParseError("Newlines not allowed in --nfacct-name");
    name_ = c.arg;
  }

  void Check(const CheckCtx& c) override {
    throw CommitError("nfacct: accounting object `" + name_ +
                      "' does not exists");
  }

  void Save(SaveCtx& s) const override {
    s.out += " --nfacct-name";
    SaveString(s.out, name_);
  }

  // Only counts; never reached since no object exists.
  bool Matches(XtParams& p) const override { return true; }

 private:
  std::string name_;
};

NETFENCE_REGISTER(RegisterMatch({
    .name = "nfacct",
    .revision = 1,
    .options = {{.name = "nfacct-name",
                 .id = kOName,
                 .type = OptType::kString,
                 .flags = kOptMand,
                 .min = 1,
                 .maxlen = kNameLen}},
    .create = [] { return std::make_unique<NfacctMatch>(); },
}));

}  // namespace
}  // namespace netfence::ext
