// Internet checksums as the kernel computes and updates them.
#pragma once

#include <cstddef>
#include <cstdint>

namespace netfence::core {

// CsumPartial adds bytes to a 32-bit one's complement accumulator.
uint32_t CsumPartial(const uint8_t* p, size_t len, uint32_t sum);
// CsumFold folds an accumulator to 16 bits and complements it.
uint16_t CsumFold(uint32_t sum);
// NfIpChecksumOk is nf_ip_checksum's verdict on an IPv4 packet's payload of
// len bytes at p (pseudo: its pseudo header sum, 0 for protocols without
// one). The kernel sums from the IPv4 header on (skb->data is the network
// header at every hook), and a header with a valid checksum adds one's
// complement -0 (0xffff): that changes nothing, except that a payload
// summing to +0 (all zero, or empty) without a pseudo header passes.
bool NfIpChecksumOk(const uint8_t* p, size_t len, uint32_t pseudo);
// IpChecksum is the IPv4 header checksum of len bytes (0 when valid).
uint16_t IpChecksum(const uint8_t* p, size_t len);
// DecreaseTtl decrements an IPv4 TTL and updates the header checksum the
// way ip_decrease_ttl does.
void DecreaseTtl(uint8_t* iph);
// CsumReplace2 and CsumReplace4 update a checksum field (network order at
// p) for a 16/32-bit value change (inet_proto_csum_replace*).
void CsumReplace2(uint8_t* csum, uint16_t from, uint16_t to);
void CsumReplace4(uint8_t* csum, uint32_t from, uint32_t to);
// PseudoHeaderSum is the IPv4 / IPv6 pseudo header partial sum.
uint32_t PseudoHeaderV4(const uint8_t* src, const uint8_t* dst, uint8_t proto,
                        uint32_t len);
uint32_t PseudoHeaderV6(const uint8_t* src, const uint8_t* dst, uint8_t proto,
                        uint32_t len);

}  // namespace netfence::core
