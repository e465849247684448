// iptables-restore parsing and iptables-save printing of the core (no
// extensions beyond tcp): cases the kernel-differential test
// (tests/kernel/save_diff.py) found, each checked against
// iptables-legacy-restore / iptables-legacy-save 1.8.9.
#include <gtest/gtest.h>

#include "core/restore.h"

namespace netfence::core {
namespace {

// Saved is the iptables-save text of a load, or "ERR line: reason".
std::string Saved(const std::string& text, Family f = Family::kIPv4,
                  bool counters = false) {
  static const BuiltinResolver kResolver;
  RestoreOptions o{f, &kResolver, "t"};
  try {
    return Save(*Restore(text, o), counters);
  } catch (const RestoreError& e) {
    return "ERR " + std::to_string(e.line) + ": " + e.reason;
  }
}

// "--" ends the options; what follows is refused as unknown arguments, as
// glibc's getopt leaves it for iptables to find.
TEST(RestoreGetopt, DoubleDashLeavesTheRestAsUnknownArguments) {
  EXPECT_EQ(Saved("*filter\n-A INPUT -- ACCEPT\nCOMMIT\n"),
            "ERR 2: unknown arguments found on commandline");
  EXPECT_EQ(Saved("*filter\n-A INPUT -s 1.2.3.4 -- -j ACCEPT\nCOMMIT\n"),
            "ERR 2: unknown arguments found on commandline");
  // Nothing after "--": nothing unknown.
  EXPECT_EQ(Saved("*filter\n-A INPUT -j ACCEPT --\nCOMMIT\n"),
            "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n"
            ":OUTPUT ACCEPT [0:0]\n-A INPUT -j ACCEPT\nCOMMIT\n");
}

// -Z keeps counters set in the same load (libiptc zeroes only counters it
// read from the kernel); it still checks the chain and the rule number.
TEST(RestoreCommands, ZeroKeepsCountersSetInTheLoad) {
  EXPECT_EQ(Saved("*filter\n:X - [0:0]\n-A INPUT -j ACCEPT -c 5 6\n"
                  "-A X -j ACCEPT -c 5 6\n-P INPUT DROP -c 3 4\n-Z INPUT\n"
                  "-Z\n-Z X 1\nCOMMIT\n",
                  Family::kIPv4, true),
            "*filter\n:INPUT DROP [3:4]\n:FORWARD ACCEPT [0:0]\n"
            ":OUTPUT ACCEPT [0:0]\n:X - [0:0]\n[5:6] -A INPUT -j ACCEPT\n"
            "[5:6] -A X -j ACCEPT\nCOMMIT\n");
  EXPECT_EQ(Saved("*filter\n-Z NOPE\nCOMMIT\n"),
            "ERR 2: No chain/target/match by that name.");
  EXPECT_EQ(Saved("*filter\n-A INPUT -j ACCEPT\n-Z INPUT 2\nCOMMIT\n"),
            "ERR 3: Index of counter too big.");
}

// A table loaded twice: the second block starts without the first one's
// rules and chains, but with its built-in policies.
TEST(RestoreTables, SecondBlockKeepsBuiltinPolicies) {
  EXPECT_EQ(Saved("*filter\n:FORWARD DROP [0:0]\n:X - [0:0]\n"
                  "-P INPUT DROP -c 5 6\n-P OUTPUT DROP\n-A X -j ACCEPT\n"
                  "COMMIT\n*filter\n:OUTPUT ACCEPT [1:1]\n"
                  "-A OUTPUT -j ACCEPT\nCOMMIT\n"),
            "*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n"
            ":OUTPUT ACCEPT [0:0]\n-A OUTPUT -j ACCEPT\nCOMMIT\n");
}

// An error is one line even when the offending text holds a newline (an
// unterminated quote keeps the line's end) or a CRLF's '\r'.
TEST(RestoreErrors, MessageIsOneLine) {
  static const BuiltinResolver kResolver;
  RestoreOptions o{Family::kIPv4, &kResolver, "t"};
  for (const char* text : {"*filter\n-A INPUT -s \"1.2.3.4\nCOMMIT\n",
                           "*filter\r\nCOMMIT\r\n"}) {
    try {
      Restore(text, o);
      ADD_FAILURE() << "accepted " << text;
    } catch (const RestoreError& e) {
      EXPECT_EQ(std::string(e.what()).find_first_of("\r\n"),
                std::string::npos)
          << e.what();
    }
  }
}

// A chain declared twice is a parameter problem (iptables-restore exits 2);
// -N of an existing chain fails in libiptc (exit 1).
TEST(RestoreErrors, DuplicateChainLineIsAParameterProblem) {
  static const BuiltinResolver kResolver;
  RestoreOptions o{Family::kIPv4, &kResolver, "t"};
  try {
    Restore("*filter\n:X - [0:0]\n:X - [0:0]\nCOMMIT\n", o);
    ADD_FAILURE();
  } catch (const RestoreError& e) {
    EXPECT_EQ(e.line, 3);
    EXPECT_FALSE(e.at_commit) << e.what();
  }
  try {
    Restore("*filter\n:X - [0:0]\n-N X\nCOMMIT\n", o);
    ADD_FAILURE();
  } catch (const RestoreError& e) {
    EXPECT_EQ(e.line, 3);
    EXPECT_TRUE(e.at_commit) << e.what();
  }
}

// The "[pkts:bytes]" prefix is split with strtok over the whole line, as
// tokenize_rule_counters does: "[:]" has no byte count, but "[1]" borrows
// the rule's next ':' (and the NUL strtok writes there ends the rule).
TEST(RestoreCounters, PrefixTokenizedLikeStrtok) {
  const std::string head =
      "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n"
      ":OUTPUT ACCEPT [0:0]\n";
  EXPECT_EQ(Saved("*filter\n[:] -A INPUT -j ACCEPT\nCOMMIT\n"),
            "ERR 2: Bad line 2: need ]");
  EXPECT_EQ(Saved("*filter\n[::] -A INPUT -j ACCEPT\nCOMMIT\n"),
            "ERR 2: Bad line 2: need ]");
  EXPECT_EQ(Saved("*filter\n[1:2 -A INPUT\nCOMMIT\n"),
            "ERR 2: Bad line 2: need ]");
  EXPECT_EQ(Saved("*filter\n[1] -A INPUT -p tcp --dport 1:2\nCOMMIT\n"),
            head + "-A INPUT -p tcp -m tcp --dport 1\nCOMMIT\n");
  EXPECT_EQ(Saved("*filter\n[1] -A INPUT -p tcp --sport 3:4] --dport 5\n"
                  "COMMIT\n"),
            head + "-A INPUT -p tcp -m tcp --sport 3\nCOMMIT\n");
  EXPECT_EQ(Saved("*filter\n[1] -A INPUT -d 2001:db8::1\nCOMMIT\n",
                  Family::kIPv6),
            "ERR 2: host/network `2001' not found");
  EXPECT_EQ(Saved("*filter\n[1:] -A INPUT\n[a:b] -A INPUT\nCOMMIT\n"),
            head + "-A INPUT\n-A INPUT\nCOMMIT\n");
}

const char kFilterHead[] =
    "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n"
    ":OUTPUT ACCEPT [0:0]\n";

// -P without -c sets no counters: earlier ones are gone.
TEST(RestoreCommands, PolicyWithoutCountersResetsThem) {
  EXPECT_EQ(Saved("*filter\n-P INPUT ACCEPT -c 5 6\n-P INPUT DROP\nCOMMIT\n"),
            "*filter\n:INPUT DROP [0:0]\n:FORWARD ACCEPT [0:0]\n"
            ":OUTPUT ACCEPT [0:0]\nCOMMIT\n");
  EXPECT_EQ(Saved("*filter\n-P INPUT ACCEPT -c -1 2\nCOMMIT\n"),
            "*filter\n:INPUT ACCEPT [18446744073709551615:2]\n"
            ":FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n");
}

// -E follows libiptc: verdict names exist already, names up to 31
// characters are taken (the kernel gives back 29), built-in chains are not
// found.
TEST(RestoreCommands, RenameChainLikeLibiptc) {
  EXPECT_EQ(Saved("*filter\n:x - [0:0]\n-A INPUT -j x\n"
                  "-E x aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\nCOMMIT\n"),
            std::string(kFilterHead) +
                ":aaaaaaaaaaaaaaaaaaaaaaaaaaaaa - [0:0]\n"
                "-A INPUT -j aaaaaaaaaaaaaaaaaaaaaaaaaaaaa\nCOMMIT\n");
  EXPECT_EQ(Saved("*filter\n:x - [0:0]\n"
                  "-E x aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\nCOMMIT\n"),
            "ERR 3: Invalid argument");
  for (const char* verdict : {"ACCEPT", "DROP", "QUEUE", "RETURN"})
    EXPECT_EQ(Saved(std::string("*filter\n:x - [0:0]\n-E x ") + verdict +
                    "\nCOMMIT\n"),
              "ERR 3: File exists");
  EXPECT_EQ(Saved("*filter\n:x - [0:0]\n-E INPUT y\nCOMMIT\n"),
            "ERR 3: No chain/target/match by that name.");
}

// An empty argument is an argument (xs_has_arg): -E X "" names a chain ""
// (jumps to it print no target), -F / -X / -Z "" name no existing chain,
// -N "" clashes with the standard target.
TEST(RestoreCommands, EmptyArgumentIsAnArgument) {
  EXPECT_EQ(Saved("*filter\n:x - [0:0]\n:y - [0:0]\n-A INPUT -j x\n"
                  "-A INPUT -g y\n-E y \"\"\nCOMMIT\n"),
            std::string(kFilterHead) +
                ": - [0:0]\n:x - [0:0]\n-A INPUT -j x\n-A INPUT\nCOMMIT\n");
  for (const char* cmd : {"-F", "-X", "-Z"})
    EXPECT_EQ(Saved(std::string("*filter\n") + cmd + " \"\"\nCOMMIT\n"),
              "ERR 2: No chain/target/match by that name.");
  EXPECT_EQ(Saved("*filter\n-P INPUT \"\"\nCOMMIT\n").substr(0, 22),
            "ERR 2: Can't set polic");
  EXPECT_EQ(Saved("*filter\n-N \"\"\nCOMMIT\n"),
            "ERR 2: chain name may not clash with target name");
}

// Lines are read as fgets reads them into a 10240-byte buffer: a longer
// line comes in pieces (each a line of its own), a NUL ends the text.
TEST(RestoreLines, ReadLikeFgets) {
  const std::string accept = "-A INPUT -j ACCEPT";
  EXPECT_EQ(Saved("*filter\n" + accept + std::string(10239 - accept.size(), ' ') +
                  "-A INPUT -j DROP\nCOMMIT\n"),
            std::string(kFilterHead) +
                "-A INPUT -j ACCEPT\n-A INPUT -j DROP\nCOMMIT\n");
  EXPECT_EQ(Saved("*filter\n" + accept + std::string(10238 - accept.size(), ' ') +
                  "-s 1.2.3.4\nCOMMIT\n"),
            "ERR 2: Bad argument `-'");
  EXPECT_EQ(Saved(std::string("*filter\n-A INPUT -j ACCEPT\0 -x\n"
                              "-A INPUT -j DROP\nCOMMIT\n",
                              55)),
            std::string(kFilterHead) +
                "-A INPUT -j ACCEPT\n-A INPUT -j DROP\nCOMMIT\n");
  EXPECT_EQ(Saved(std::string("*filter\nCOMMIT\0\n", 16)),
            "ERR 2: Bad argument `COMMIT'");
}

}  // namespace
}  // namespace netfence::core
