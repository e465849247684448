// Small helpers the packet-rewriting and NAT targets share: the addresses
// of the IP header, the route the kernel attached to a packet (skb_dst),
// the IPv6 extension header walk of ipv6_skip_exthdr and the IPv6 address
// classification of __ipv6_addr_type. Header-only so each target unit
// stays self-contained.
#pragma once

#include <cstdint>
#include <cstring>

#include "core/host.h"
#include "core/packet.h"
#include "core/xt.h"

namespace netfence::ext {

// PktSrc and PktDst read the source / destination address of the IP header.
inline core::Addr PktSrc(const core::Packet& p) {
  core::Addr a;
  if (p.family == core::Family::kIPv4)
    std::memcpy(a.b.data(), p.data.data() + 12, 4);
  else
    std::memcpy(a.b.data(), p.data.data() + 8, 16);
  return a;
}
inline core::Addr PktDst(const core::Packet& p) {
  core::Addr a;
  if (p.family == core::Family::kIPv4)
    std::memcpy(a.b.data(), p.data.data() + 16, 4);
  else
    std::memcpy(a.b.data(), p.data.data() + 24, 16);
  return a;
}

// PktTos is the IPv4 TOS byte or the IPv6 traffic class.
inline uint8_t PktTos(const core::Packet& p) {
  if (p.family == core::Family::kIPv4) return p.data[1];
  return uint8_t(core::Load16(p.data.data()) >> 4);
}

// PacketRoute recomputes the route the stack attached to the packet: the
// input route for a packet that arrived on an interface, the output route
// for a locally generated one. XtParams does not carry skb_dst, and the
// stack decides routes from the same host tables with the same keys.
inline core::Route PacketRoute(const core::XtParams& p) {
  const core::HookState& st = *p.state;
  const core::Packet& skb = *p.skb;
  if (st.in != nullptr)
    return st.host->RouteInput(skb.family, PktDst(skb), PktSrc(skb),
                               PktTos(skb), st.in, skb.mark);
  return st.host->RouteOutput(skb.family, PktDst(skb), PktSrc(skb), PktTos(skb),
                              nullptr, skb.mark);
}

// RouteMtu is dst_mtu(): the route's MTU, else its device's.
inline unsigned RouteMtu(const core::Route& rt, const core::Interface* dflt) {
  if (rt.mtu) return rt.mtu;
  if (rt.dev) return rt.dev->mtu;
  return dflt ? dflt->mtu : 1500;
}

// Ipv6SkipExthdr follows the extension headers from start like the
// kernel's ipv6_skip_exthdr: it stops at a non-first fragment and returns
// the offset of the upper-layer header (nexthdr updated), or -1.
inline int Ipv6SkipExthdr(const core::Packet& skb, int start, uint8_t& nexthdr,
                          uint16_t& frag_off) {
  frag_off = 0;
  auto is_ext = [](uint8_t h) {
    return h == 0 || h == 43 || h == 44 || h == 51 || h == 59 || h == 60;
  };
  while (is_ext(nexthdr)) {
    if (nexthdr == 59) return -1;  // no next header
    const uint8_t* hp = skb.HeaderPointer(start, 2);
    if (hp == nullptr) return -1;
    int hdrlen;
    if (nexthdr == 44) {
      const uint8_t* fp = skb.HeaderPointer(start + 2, 2);
      if (fp == nullptr) return -1;
      frag_off = core::Load16(fp);
      if (frag_off & ~0x7) break;
      hdrlen = 8;
    } else if (nexthdr == 51) {
      hdrlen = (hp[1] + 2) << 2;
    } else {
      hdrlen = (hp[1] + 1) << 3;
    }
    nexthdr = hp[0];
    start += hdrlen;
  }
  return start;
}

// IPv6 address type bits (IPV6_ADDR_*), as __ipv6_addr_type reports them.
enum Ipv6AddrBits : unsigned {
  kV6Unicast = 0x0001,
  kV6Multicast = 0x0002,
  kV6Loopback = 0x0010,
  kV6LinkLocal = 0x0020,
  kV6SiteLocal = 0x0040,
  kV6CompatV4 = 0x0080,
  kV6ScopeMask = 0x00f0,
  kV6Mapped = 0x1000,
};

// Ipv6AddrType classifies an address like __ipv6_addr_type (without the
// scope number in the high bits, which no caller here needs).
inline unsigned Ipv6AddrType(const core::Addr& a) {
  const uint8_t* b = a.b.data();
  const uint32_t w0 = core::Load32(b);
  if ((w0 & 0xE0000000) != 0 && (w0 & 0xE0000000) != 0xE0000000)
    return kV6Unicast;
  if ((w0 & 0xFF000000) == 0xFF000000) {
    switch (b[1] & 0x0f) {  // multicast scope
      case 0x1:
        return kV6Multicast | kV6Loopback;
      case 0x2:
        return kV6Multicast | kV6LinkLocal;
      case 0x5:
        return kV6Multicast | kV6SiteLocal;
      default:
        return kV6Multicast;
    }
  }
  if ((w0 & 0xFFC00000) == 0xFE800000) return kV6LinkLocal | kV6Unicast;
  if ((w0 & 0xFFC00000) == 0xFEC00000) return kV6SiteLocal | kV6Unicast;
  if ((w0 & 0xFE000000) == 0xFC000000) return kV6Unicast;
  const uint32_t w1 = core::Load32(b + 4), w2 = core::Load32(b + 8),
                 w3 = core::Load32(b + 12);
  if ((w0 | w1) == 0) {
    if (w2 == 0) {
      if (w3 == 0) return 0;
      if (w3 == 1) return kV6Loopback | kV6Unicast;
      return kV6CompatV4 | kV6Unicast;
    }
    if (w2 == 0x0000ffff) return kV6Mapped;
  }
  return kV6Unicast;
}

// ChangeDsfieldV4 sets the IPv4 TOS byte to (tos & mask) | value and
// adjusts the header checksum with the kernel's own carry handling
// (ipv4_change_dsfield), so the checksum bytes match what it writes.
inline void ChangeDsfieldV4(uint8_t* iph, uint8_t mask, uint8_t value) {
  uint32_t check = core::Load16(iph + 10);
  const uint8_t dsfield = uint8_t((iph[1] & mask) | value);
  check += iph[1];
  if ((check + 1) >> 16) check = (check + 1) & 0xffff;
  check -= dsfield;
  check += check >> 16;  // the borrow, folded as the kernel folds it
  core::Store16(iph + 10, uint16_t(check));
  iph[1] = dsfield;
}

// ChangeDsfieldV6 sets the IPv6 traffic class to (tc & mask) | value
// (ipv6_change_dsfield).
inline void ChangeDsfieldV6(uint8_t* ip6h, uint8_t mask, uint8_t value) {
  const uint16_t w = core::Load16(ip6h);
  core::Store16(ip6h, uint16_t((w & ((uint16_t(mask) << 4) | 0xf00f)) |
                               (uint16_t(value) << 4)));
}

}  // namespace netfence::ext
