// Every corpus ruleset: those the kernel loads must save byte for byte as
// iptables-legacy-save printed them; those it refuses must be refused.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/restore.h"
#include "io/system_resolver.h"
#include "tests/shared_dir.h"

namespace netfence {
namespace {

struct CorpusCase {
  int rc;
  std::string tool, file, error;
};

std::vector<CorpusCase> LoadCases() {
  std::vector<CorpusCase> out;
  std::ifstream in(SharedDir() + "/corpus/loadtest.tsv");
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    std::stringstream ss(line);
    std::string col;
    while (std::getline(ss, col, '\t')) f.push_back(col);
    if (f.size() < 4) continue;
    out.push_back({std::stoi(f[0]), f[2], f[3], f.size() > 4 ? f[4] : ""});
  }
  return out;
}

std::string StripComments(const std::string& text) {
  std::stringstream in(text), out;
  std::string line;
  while (std::getline(in, line))
    if (line.empty() || line[0] != '#') out << line << "\n";
  return out.str();
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class Corpus : public ::testing::TestWithParam<CorpusCase> {};

TEST_P(Corpus, SaveMatchesKernel) {
  const CorpusCase& c = GetParam();
  io::SystemResolver resolver;
  core::RestoreOptions opts;
  opts.family = c.tool.rfind("ip6", 0) == 0 ? core::Family::kIPv6
                                           : core::Family::kIPv4;
  opts.resolver = &resolver;
  opts.filename = c.file;
  std::string text = Slurp(SharedDir() + "/corpus/rulesets/" + c.file);
  if (c.rc != 0) {
    EXPECT_THROW(core::Restore(text, opts), core::RestoreError)
        << "kernel refused: " << c.error;
    return;
  }
  std::unique_ptr<core::Ruleset> rs;
  try {
    rs = core::Restore(text, opts);
  } catch (const std::exception& e) {
    FAIL() << e.what();
  }
  std::string saved_name = c.file;
  std::replace(saved_name.begin(), saved_name.end(), '/', '_');
  std::string want =
      StripComments(Slurp(SharedDir() + "/corpus/saved/" + saved_name + ".saved"));
  EXPECT_EQ(core::Save(*rs, false), want);
}

std::string CaseName(const ::testing::TestParamInfo<CorpusCase>& info) {
  std::string n = std::to_string(info.index) + "_" + info.param.file;
  for (char& ch : n)
    if (!isalnum(uint8_t(ch))) ch = '_';
  return n;
}

INSTANTIATE_TEST_SUITE_P(Rulesets, Corpus, ::testing::ValuesIn(LoadCases()),
                         CaseName);

}  // namespace
}  // namespace netfence
