#include "core/checksum.h"

namespace netfence::core {

uint32_t CsumPartial(const uint8_t* p, size_t len, uint32_t sum) {
  uint64_t s = sum;
  size_t i = 0;
  for (; i + 1 < len; i += 2) s += uint32_t(p[i] << 8 | p[i + 1]);
  if (i < len) s += uint32_t(p[i] << 8);
  while (s >> 32) s = (s & 0xffffffff) + (s >> 32);
  return uint32_t(s);
}

uint16_t CsumFold(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return uint16_t(~sum);
}

bool NfIpChecksumOk(const uint8_t* p, size_t len, uint32_t pseudo) {
  uint64_t sum = uint64_t(CsumPartial(p, len, pseudo)) + 0xffff;
  while (sum >> 32) sum = (sum & 0xffffffff) + (sum >> 32);
  return CsumFold(uint32_t(sum)) == 0;
}

uint16_t IpChecksum(const uint8_t* p, size_t len) {
  return CsumFold(CsumPartial(p, len, 0));
}

void DecreaseTtl(uint8_t* iph) {
  // ip_decrease_ttl works on the field as a little-endian host loads it;
  // reproducing that keeps the kernel's choice between 0x0000 and 0xffff.
  uint32_t check = uint32_t(iph[10] | iph[11] << 8);
  check += 0x0001;
  check = (check + (check >= 0xffff)) & 0xffff;
  iph[10] = uint8_t(check);
  iph[11] = uint8_t(check >> 8);
  iph[8]--;
}

namespace {

// The kernel's 32-bit one's complement helpers (csum_add, csum_fold).
uint32_t Add32(uint32_t a, uint32_t b) {
  uint32_t r = a + b;
  return r + (r < b);
}

uint16_t Fold32(uint32_t s) {
  s = (s & 0xffff) + (s >> 16);
  s = (s & 0xffff) + (s >> 16);
  return uint16_t(~s);
}

uint16_t Get(const uint8_t* p) { return uint16_t(p[0] << 8 | p[1]); }
void Put(uint8_t* p, uint16_t v) {
  p[0] = uint8_t(v >> 8);
  p[1] = uint8_t(v);
}

// Replace is inet_proto_csum_replace4 for a non-offloaded checksum:
// fold(~unfold(sum) - from + to), in 32-bit arithmetic.
void Replace(uint8_t* csum, uint32_t from, uint32_t to) {
  uint32_t s = ~uint32_t(Get(csum));
  s = Add32(s, ~from);
  s = Add32(s, to);
  Put(csum, Fold32(s));
}

}  // namespace

void CsumReplace2(uint8_t* csum, uint16_t from, uint16_t to) {
  Replace(csum, from, to);
}

void CsumReplace4(uint8_t* csum, uint32_t from, uint32_t to) {
  Replace(csum, from, to);
}

uint32_t PseudoHeaderV4(const uint8_t* src, const uint8_t* dst, uint8_t proto,
                        uint32_t len) {
  uint32_t s = CsumPartial(src, 4, 0);
  s = CsumPartial(dst, 4, s);
  uint64_t t = uint64_t(s) + proto + len;
  while (t >> 32) t = (t & 0xffffffff) + (t >> 32);
  return uint32_t(t);
}

uint32_t PseudoHeaderV6(const uint8_t* src, const uint8_t* dst, uint8_t proto,
                        uint32_t len) {
  uint32_t s = CsumPartial(src, 16, 0);
  s = CsumPartial(dst, 16, s);
  uint64_t t = uint64_t(s) + proto + (len >> 16) + (len & 0xffff);
  while (t >> 32) t = (t & 0xffffffff) + (t >> 32);
  return uint32_t(t);
}

}  // namespace netfence::core
