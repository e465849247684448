// The nfacct match on a host without accounting objects.
#include <gtest/gtest.h>

#include "core/restore.h"

namespace netfence::ext {
namespace {

using namespace netfence::core;

TEST(NfacctMatch, ParsesButTheCommitFails) {
  static const BuiltinResolver kResolver;
  RestoreOptions o{Family::kIPv4, &kResolver, "test"};
  try {
    Restore("*filter\n-A INPUT -m nfacct --nfacct-name acct\nCOMMIT\n", o);
    FAIL() << "accepted";
  } catch (const RestoreError& e) {
    EXPECT_TRUE(e.at_commit) << e.what();
  }
  try {
    Restore("*filter\n-A INPUT -m nfacct\nCOMMIT\n", o);
    FAIL() << "accepted";
  } catch (const RestoreError& e) {
    EXPECT_FALSE(e.at_commit) << e.what();
  }
}

}  // namespace
}  // namespace netfence::ext
