#include "core/defrag.h"

#include <algorithm>

#include "core/checksum.h"
#include "core/pktinfo.h"

namespace netfence::core {

namespace {

constexpr unsigned kMaxDatagram = 65535;

// V6FragHeader finds the fragment header: its offset and the offset of the
// field that names it (the previous header's next-header byte).
bool V6FragHeader(const Packet& p, unsigned& frag_off, unsigned& prev_nh) {
  unsigned off = 40;
  prev_nh = 6;
  uint8_t nh = p.data[6];
  while (true) {
    if (nh == 44) {
      if (p.HeaderPointer(off, 8) == nullptr) return false;
      frag_off = off;
      return true;
    }
    if (nh != 0 && nh != 43 && nh != 60 && nh != 51) return false;
    const uint8_t* h = p.HeaderPointer(off, 2);
    if (h == nullptr) return false;
    prev_nh = off;
    off += nh == 51 ? (unsigned(h[1]) + 2) * 4 : (unsigned(h[1]) + 1) * 8;
    nh = h[0];
  }
}

}  // namespace

void Defrag::Expire(double now) {
  for (auto it = queues_.begin(); it != queues_.end();) {
    if (it->second.expires <= now)
      it = queues_.erase(it);
    else
      ++it;
  }
}

bool Defrag::Complete(const Queue& q) const {
  if (!q.have_last || !q.first) return false;
  unsigned covered = 0;
  std::vector<const Frag*> sorted;
  for (const Frag& f : q.frags) sorted.push_back(&f);
  std::sort(sorted.begin(), sorted.end(),
            [](const Frag* a, const Frag* b) { return a->offset < b->offset; });
  for (const Frag* f : sorted) {
    if (f->offset != covered) return false;
    covered += unsigned(f->data.size());
  }
  return covered == q.total;
}

DefragResult Defrag::Add(Queue& q, unsigned offset, bool more,
                         std::vector<uint8_t> payload, Packet& pkt,
                         unsigned pkt_size) {
  unsigned end = offset + unsigned(payload.size());
  if (!more) {
    // The last fragment fixes the length; anything beyond it is corrupt.
    if (end < q.total || (q.have_last && end != q.total)) return DefragResult::kDropped;
    q.have_last = true;
    q.total = end;
  } else {
    if (end & 7) {
      end &= ~7u;
      payload.resize(end - offset);
    }
    if (end > q.total) {
      if (q.have_last) return DefragResult::kDropped;
      q.total = end;
    }
  }
  if (end == offset) return DefragResult::kDropped;
  for (const Frag& f : q.frags) {
    const unsigned fend = f.offset + unsigned(f.data.size());
    if (f.offset == offset && fend == end) return DefragResult::kDropped;  // dup
    if (offset < fend && f.offset < end) {
      q.frags.clear();  // overlap: the whole datagram is discarded
      q.first.reset();
      q.have_last = false;
      q.total = 0;
      return DefragResult::kDropped;
    }
  }
  q.max_size = std::max(q.max_size, pkt_size);
  if (offset == 0) q.first = pkt;
  q.frags.push_back({offset, std::move(payload)});
  return DefragResult::kQueued;
}

DefragResult Defrag::Process(Packet& pkt, double now) {
  Expire(now);
  auto& d = pkt.data;
  Key key;
  unsigned offset;
  bool more;
  std::vector<uint8_t> payload;
  unsigned hdrlen, prev_nh = 0, frag_hdr = 0;
  if (pkt.family == Family::kIPv4) {
    if (d.size() < 20) return DefragResult::kNotFragment;
    const uint16_t fo = Load16(d.data() + 6);
    more = fo & 0x2000;
    offset = (fo & 0x1fff) * 8u;
    if (!more && offset == 0) return DefragResult::kNotFragment;
    hdrlen = (d[0] & 0x0f) * 4u;
    const unsigned len = std::min<unsigned>(Load16(d.data() + 2), unsigned(d.size()));
    if (len < hdrlen) return DefragResult::kDropped;
    payload.assign(d.begin() + hdrlen, d.begin() + len);
    key = {4};
    key.insert(key.end(), d.begin() + 12, d.begin() + 20);  // addresses
    key.insert(key.end(), {d[4], d[5], d[9]});              // id, protocol
  } else {
    if (d.size() < 40 || !V6FragHeader(pkt, frag_hdr, prev_nh))
      return DefragResult::kNotFragment;
    const uint16_t fo = Load16(d.data() + frag_hdr + 2);
    more = fo & 1;
    offset = fo & ~7u;
    // An atomic fragment (offset 0, no more fragments) is not let through:
    // nf_ct_frag6_gather queues it like any other, it completes its queue at
    // once and leaves reassembled, without its fragment header.
    hdrlen = frag_hdr;
    payload.assign(d.begin() + frag_hdr + 8, d.end());
    key = {6};
    key.insert(key.end(), d.begin() + 8, d.begin() + 40);
    key.insert(key.end(), d.begin() + frag_hdr + 4, d.begin() + frag_hdr + 8);
  }
  if (offset + payload.size() > kMaxDatagram) return DefragResult::kDropped;
  auto [it, created] = queues_.try_emplace(key);
  Queue& q = it->second;
  if (created) q.expires = now + timeout_;
  DefragResult r = Add(q, offset, more, std::move(payload), pkt,
                       unsigned(d.size()));
  if (r == DefragResult::kDropped && q.frags.empty()) queues_.erase(it);
  if (r != DefragResult::kQueued || !Complete(q)) return r;

  // Rebuild the datagram behind the first fragment's header.
  std::vector<const Frag*> sorted;
  for (const Frag& f : q.frags) sorted.push_back(&f);
  std::sort(sorted.begin(), sorted.end(),
            [](const Frag* a, const Frag* b) { return a->offset < b->offset; });
  Packet out = *q.first;
  auto& od = out.data;
  if (out.family == Family::kIPv4) {
    const unsigned ihl = (od[0] & 0x0f) * 4u;
    od.resize(ihl);
    for (const Frag* f : sorted) od.insert(od.end(), f->data.begin(), f->data.end());
    Store16(od.data() + 2, uint16_t(od.size()));
    Store16(od.data() + 6, 0);
    Store16(od.data() + 10, 0);
    Store16(od.data() + 10, IpChecksum(od.data(), ihl));
  } else {
    unsigned fh = 0, pn = 0;
    V6FragHeader(out, fh, pn);
    const uint8_t next = od[fh];
    od.resize(fh);
    od[pn] = next;
    for (const Frag* f : sorted) od.insert(od.end(), f->data.begin(), f->data.end());
    Store16(od.data() + 4, uint16_t(od.size() - 40));
  }
  out.tstamp = pkt.tstamp;
  pkt = std::move(out);
  queues_.erase(it);
  return DefragResult::kComplete;
}

}  // namespace netfence::core
