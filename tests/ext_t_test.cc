// The netfilter project's extension test vectors (.t files), as iptables
// 1.8.9 (legacy) on this kernel answered them (expected-1.8.9.tsv): each
// rule is applied alone to its table and chain; it must be accepted and
// print back exactly, or be refused at the same stage (parser or commit).
// Rows of extensions netfence does not register are skipped, loudly.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "core/restore.h"
#include "io/system_resolver.h"
#include "tests/shared_dir.h"

namespace netfence {
namespace {

struct TRow {
  std::string file, family, table, chain, rule;
  int rc;
  std::string saved;
};

std::vector<TRow> LoadRows() {
  std::vector<TRow> out;
  std::ifstream in(SharedDir() + "/corpus/iptables-ext-tests/expected-1.8.9.tsv");
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    std::stringstream ss(line);
    std::string col;
    while (std::getline(ss, col, '\t')) f.push_back(col);
    if (f.size() < 6) continue;
    out.push_back({f[0], f[1], f[2], f[3], f[4], std::stoi(f[5]),
                   f.size() > 6 ? f[6] : ""});
  }
  return out;
}

// ExtensionOf maps "libxt_tcp.t" to "tcp"; core files map to "".
std::string ExtensionOf(const std::string& file) {
  if (file == "iptables.t") return "";
  size_t us = file.find('_');
  std::string name = file.substr(us + 1, file.size() - us - 3);
  if (name == "standard") return "";
  return name;
}

bool Registered(const std::string& ext, core::Family f) {
  if (ext.empty()) return true;
  return core::FindMatch(ext, f) != nullptr || core::FindTarget(ext, f) != nullptr;
}

std::string RuleLines(const std::string& save) {
  std::stringstream in(save);
  std::string line, out;
  while (std::getline(in, line)) {
    if (line.rfind("-A ", 0) != 0) continue;
    if (!out.empty()) out += " || ";
    out += line;
  }
  return out;
}

class ExtT : public ::testing::TestWithParam<TRow> {};

TEST_P(ExtT, MatchesKernel) {
  const TRow& r = GetParam();
  core::Family f = r.family == "ip6" ? core::Family::kIPv6 : core::Family::kIPv4;
  std::string ext = ExtensionOf(r.file);
  if (!Registered(ext, f)) GTEST_SKIP() << "extension " << ext << " not supported";
  io::SystemResolver resolver;
  core::RestoreOptions opts{f, &resolver, r.file};
  std::string text = "*" + r.table + "\n-A " + r.chain + " " + r.rule + "\nCOMMIT\n";
  try {
    auto rs = core::Restore(text, opts);
    ASSERT_EQ(r.rc, 0) << "accepted a rule the kernel refused: " << r.rule;
    EXPECT_EQ(RuleLines(core::Save(*rs, false)), r.saved) << r.rule;
  } catch (const core::RestoreError& e) {
    ASSERT_NE(r.rc, 0) << "refused a rule the kernel accepts: " << r.rule
                       << "\n  " << e.what();
    EXPECT_EQ(r.rc == 1, e.at_commit)
        << "refused at the wrong stage (kernel rc " << r.rc << "): " << e.what();
  }
}

std::string RowName(const ::testing::TestParamInfo<TRow>& info) {
  std::string n = info.param.file + "_" + std::to_string(info.index);
  for (char& ch : n)
    if (!isalnum(uint8_t(ch))) ch = '_';
  return n;
}

INSTANTIATE_TEST_SUITE_P(Vectors, ExtT, ::testing::ValuesIn(LoadRows()), RowName);

}  // namespace
}  // namespace netfence
