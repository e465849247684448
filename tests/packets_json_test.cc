// The output line of simulate (io::FormatOutcome): what it flags as chosen
// by the kernel at random.
#include "io/packets_json.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace netfence::io {
namespace {

std::vector<uint8_t> FromHex(const std::string& h) {
  std::vector<uint8_t> b(h.size() / 2);
  for (size_t i = 0; i < b.size(); ++i)
    b[i] = uint8_t(std::stoi(h.substr(2 * i, 2), nullptr, 16));
  return b;
}

TEST(FormatOutcome, RandomNatPortIsUnstable) {
  // ext2 seed 221: a new connection's null binding clashed with an existing
  // one, so nf_nat_l4proto_unique_tuple moved its source port from a random
  // offset (443 -> any port in 1..511); the ports and the TCP checksum are
  // flagged.
  core::Outcome o;
  o.accepted = true;
  o.oif = "docker0";
  o.data = FromHex(
      "45000028d56240003f06b61108080808ac15f43601a08a24becea0daf376c3d8501"
      "0faf061ca0000");
  o.nat_random = true;
  auto j = nlohmann::json::parse(FormatOutcome(1, o));
  EXPECT_EQ(j["unstable"], nlohmann::json({20, 21, 22, 23, 36, 37}));
  EXPECT_EQ(j["nat_random"], true);
}

TEST(FormatOutcome, RandomNatOnIpv6UdpAfterExtensionHeaders) {
  core::Outcome o;
  o.accepted = true;
  o.to_local = true;
  // IPv6, hop-by-hop (8 bytes), then UDP.
  o.data.assign(56, 0);
  o.data[0] = 0x60;
  o.data[5] = 16;
  o.data[6] = 0;   // hop-by-hop
  o.data[40] = 17; // then UDP
  o.nat_random = true;
  auto j = nlohmann::json::parse(FormatOutcome(1, o));
  EXPECT_EQ(j["unstable"], nlohmann::json({48, 49, 50, 51, 54, 55}));
}

TEST(FormatOutcome, NoRandomChoiceNoFlags) {
  core::Outcome o;
  o.accepted = true;
  o.data = FromHex(
      "45000028d56240003f06b61108080808ac15f43601a08a24becea0daf376c3d8501"
      "0faf061ca0000");
  auto j = nlohmann::json::parse(FormatOutcome(1, o));
  EXPECT_FALSE(j.contains("unstable"));
}

}  // namespace
}  // namespace netfence::io
