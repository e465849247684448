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

uint16_t IpChecksum(const uint8_t* p, size_t len) {
  return CsumFold(CsumPartial(p, len, 0));
}

void DecreaseTtl(uint8_t* iph) {
  uint32_t check = uint32_t(iph[10] << 8 | iph[11]);
  check += 0x0100;
  check = (check + (check >= 0xffff)) & 0xffff;
  iph[10] = uint8_t(check >> 8);
  iph[11] = uint8_t(check);
  iph[8]--;
}

namespace {

uint16_t Get(const uint8_t* p) { return uint16_t(p[0] << 8 | p[1]); }
void Put(uint8_t* p, uint16_t v) {
  p[0] = uint8_t(v >> 8);
  p[1] = uint8_t(v);
}

}  // namespace

void CsumReplace2(uint8_t* csum, uint16_t from, uint16_t to) {
  // RFC 1624: HC' = ~(~HC + ~m + m')
  uint32_t s = uint16_t(~Get(csum));
  s += uint16_t(~from);
  s += to;
  Put(csum, CsumFold(s));
}

void CsumReplace4(uint8_t* csum, uint32_t from, uint32_t to) {
  uint32_t s = uint16_t(~Get(csum));
  s += uint16_t(~(from >> 16)) + uint16_t(~(from & 0xffff));
  s += (to >> 16) + (to & 0xffff);
  Put(csum, CsumFold(s));
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
