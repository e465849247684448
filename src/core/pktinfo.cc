#include "core/pktinfo.h"

#include <cerrno>

namespace netfence::core {

namespace {

enum : int {
  kNextHop = 0,
  kNextRouting = 43,
  kNextFragment = 44,
  kNextEsp = 50,
  kNextAuth = 51,
  kNextNone = 59,
  kNextDest = 60,
};

// IsExtHdr is the kernel's ipv6_ext_hdr(): ESP ends the walk.
bool IsExtHdr(int nh) {
  return nh == kNextHop || nh == kNextRouting || nh == kNextFragment ||
         nh == kNextAuth || nh == kNextNone || nh == kNextDest;
}

}  // namespace

int Ipv6FindHdr(const Packet& skb, unsigned& offset, int target, int* fragoff,
                bool* is_frag) {
  unsigned start = 40;
  const uint8_t* ip6 = skb.HeaderPointer(0, 40);
  if (ip6 == nullptr) return -EBADMSG;
  int nexthdr = ip6[6];
  bool found = false;
  while (!found) {
    found = nexthdr == target;
    if (!IsExtHdr(nexthdr) || nexthdr == kNextNone) {
      if (target < 0 || found) break;
      return -ENOENT;
    }
    const uint8_t* hp = skb.HeaderPointer(start, 2);
    if (hp == nullptr) return -EBADMSG;
    unsigned hdrlen;
    if (nexthdr == kNextFragment) {
      if (is_frag) *is_frag = true;
      const uint8_t* fp = skb.HeaderPointer(start + 2, 2);
      if (fp == nullptr) return -EBADMSG;
      int off = Load16(fp) & ~0x7;
      if (off) {
        if (target < 0 && (!IsExtHdr(hp[0]) || hp[0] == kNextNone)) {
          if (fragoff) *fragoff = off;
          offset = start;
          return hp[0];
        }
        if (!found) return -ENOENT;
        if (fragoff) *fragoff = off;
        break;
      }
      hdrlen = 8;
    } else if (nexthdr == kNextAuth) {
      hdrlen = (unsigned(hp[1]) + 2) << 2;
    } else {
      hdrlen = (unsigned(hp[1]) + 1) << 3;
    }
    if (!found) {
      nexthdr = hp[0];
      start += hdrlen;
    }
  }
  offset = start;
  return nexthdr;
}

PktInfo ComputePktInfo(const Packet& skb) {
  PktInfo pi;
  if (skb.family == Family::kIPv4) {
    const uint8_t* iph = skb.data.data();
    pi.thoff = (iph[0] & 0x0f) * 4;
    pi.fragoff = Load16(iph + 6) & 0x1fff;
    pi.l4proto = iph[9];
    return pi;
  }
  unsigned off = 0;
  int frag = 0;
  bool is_frag = false;
  int nh = Ipv6FindHdr(skb, off, -1, &frag, &is_frag);
  pi.l4proto = nh;
  pi.thoff = nh >= 0 ? off : 0;
  pi.fragoff = frag;
  pi.v6_frag = is_frag;
  return pi;
}

int Ipv6SkipExthdr(const Packet& skb, unsigned start, uint8_t& nexthdr,
                   uint16_t& frag_off) {
  frag_off = 0;
  while (IsExtHdr(nexthdr)) {
    if (nexthdr == kNextNone) return -1;
    const uint8_t* hp = skb.HeaderPointer(start, 2);
    if (hp == nullptr) return -1;
    unsigned hdrlen;
    if (nexthdr == kNextFragment) {
      const uint8_t* fp = skb.HeaderPointer(start + 2, 2);
      if (fp == nullptr) return -1;
      frag_off = uint16_t(fp[0] << 8 | fp[1]);
      if (frag_off & ~0x7) break;  // a non-first fragment: no more headers
      hdrlen = 8;
    } else if (nexthdr == kNextAuth) {
      hdrlen = (unsigned(hp[1]) + 2) << 2;
    } else {
      hdrlen = (unsigned(hp[1]) + 1) << 3;
    }
    nexthdr = hp[0];
    start += hdrlen;
  }
  return int(start);
}

}  // namespace netfence::core
