// A re-entrant model of GNU getopt_long as iptables 1.8.9 drives it.
//
// iptables parses each rule line with getopt_long over an option table that
// grows as matches and targets are loaded (newest extension first), with
// abbreviations of long options and "-" in the option string (non-options are
// returned in order as code 1). Reproducing those mechanics, rather than
// inventing a parser, is what makes "--cts", "--src", "-ptcp" and friends
// behave exactly as iptables-restore does.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace netfence::core {

// LongOption is one entry of a getopt_long option table.
struct LongOption {
  std::string name;
  int has_arg = 0;  // 0 none, 1 required, 2 optional
  int val = 0;      // code returned when this option is seen
};

// Getopt walks an argument vector the way glibc's getopt_long does with an
// option string starting with "-:" would, except that ':' and '?' report
// problems instead of printing them.
class Getopt {
 public:
  Getopt(const std::vector<std::string>& argv, std::string optstring);

  // Next returns the next option code, -1 at the end, '?' for an unknown or
  // ambiguous option, ':' for a missing argument, 1 for a non-option.
  int Next(const std::vector<LongOption>& longopts);

  // argv returns the vector being scanned.
  const std::vector<std::string>* argv() const { return &argv_; }

  // optarg is the argument of the last option, or empty with has_optarg false.
  std::string optarg;
  bool has_optarg = false;
  // optind is the index of the next argv element to scan (as in getopt).
  int optind = 1;
  // optopt names the offending element for '?' and ':'.
  std::string bad_option;

 private:
  int LongOpt(const std::vector<LongOption>& longopts, std::string_view body);

  const std::vector<std::string>& argv_;
  std::string optstring_;
  size_t nextchar_ = 0;  // position inside a cluster of short options
};

}  // namespace netfence::core
