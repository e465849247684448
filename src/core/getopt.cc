#include "core/getopt.h"

#include <cstring>

namespace netfence::core {

Getopt::Getopt(const std::vector<std::string>& argv, std::string optstring)
    : argv_(argv), optstring_(std::move(optstring)) {}

int Getopt::LongOpt(const std::vector<LongOption>& longopts,
                    std::string_view body) {
  size_t eq = body.find('=');
  std::string_view name = body.substr(0, eq);
  const LongOption* found = nullptr;
  for (const auto& o : longopts) {
    if (o.name == name) {
      found = &o;
      break;
    }
  }
  if (found == nullptr) {
    // Abbreviations: a unique prefix, or several prefixes that all mean the
    // same thing (same argument kind and code).
    bool ambiguous = false;
    for (const auto& o : longopts) {
      if (o.name.compare(0, name.size(), name) != 0) continue;
      if (found == nullptr)
        found = &o;
      else if (found->has_arg != o.has_arg || found->val != o.val)
        ambiguous = true;
    }
    if (ambiguous) found = nullptr;
  }
  bad_option = argv_[optind];
  ++optind;
  if (found == nullptr) return '?';
  if (eq != std::string_view::npos) {
    if (found->has_arg == 0) return '?';
    optarg = std::string(body.substr(eq + 1));
    has_optarg = true;
  } else if (found->has_arg == 1) {
    if (optind >= static_cast<int>(argv_.size())) return ':';
    optarg = argv_[optind++];
    has_optarg = true;
  }
  return found->val;
}

int Getopt::Next(const std::vector<LongOption>& longopts) {
  optarg.clear();
  has_optarg = false;
  const int argc = static_cast<int>(argv_.size());
  if (nextchar_ == 0) {
    if (optind >= argc) return -1;
    const std::string& a = argv_[optind];
    if (a == "--") {
      // glibc ends the scan after "--" but leaves optind on the arguments
      // that follow, which iptables then refuses as unknown arguments.
      ++optind;
      return -1;
    }
    if (a.size() < 2 || a[0] != '-') {
      // RETURN_IN_ORDER: a non-option is returned as the argument of code 1.
      optarg = a;
      has_optarg = true;
      ++optind;
      return 1;
    }
    if (a[1] == '-') return LongOpt(longopts, std::string_view(a).substr(2));
    nextchar_ = 1;
  }
  const std::string& a = argv_[optind];
  char c = a[nextchar_++];
  bool last = nextchar_ >= a.size();
  // optstring_ starts with "-:" which are modes, not options.
  size_t pos = (c == ':' || c == '-') ? std::string::npos
                                       : optstring_.find(c, 2);
  if (pos == std::string::npos) {
    bad_option = std::string("-") + c;
    if (last) {
      ++optind;
      nextchar_ = 0;
    }
    return '?';
  }
  bool takes = pos + 1 < optstring_.size() && optstring_[pos + 1] == ':';
  bool optional = takes && pos + 2 < optstring_.size() &&
                  optstring_[pos + 2] == ':';
  if (!takes) {
    if (last) {
      ++optind;
      nextchar_ = 0;
    }
    return c;
  }
  if (!last) {
    optarg = a.substr(nextchar_);
    has_optarg = true;
    ++optind;
    nextchar_ = 0;
    return c;
  }
  ++optind;
  nextchar_ = 0;
  if (optional) return c;
  if (optind >= argc) {
    bad_option = std::string("-") + c;
    return ':';
  }
  optarg = argv_[optind++];
  has_optarg = true;
  return c;
}

}  // namespace netfence::core
