// The embedding API: netfence::Firewall over the core's HookEngine.
#include "netfence/firewall.h"

#include <atomic>
#include <map>
#include <mutex>

#include "core/conntrack.h"
#include "core/hook_engine.h"
#include "core/resolver.h"
#include "core/restore.h"

namespace netfence {

namespace {

core::Family CoreFamily(Family f) {
  return f == Family::kIPv4 ? core::Family::kIPv4 : core::Family::kIPv6;
}

// Collect gathers what targets produce during one Check.
class Collect : public core::HookSink {
 public:
  explicit Collect(HookVerdict& v) : v_(v) {}
  void Log(const std::string& line) override { v_.log.push_back(line); }
  void SendLocal(core::Packet pkt) override {
    v_.replies.push_back(std::move(pkt.data));
  }

 private:
  HookVerdict& v_;
};

using IfaceMap = std::map<std::string, core::Interface, std::less<>>;

}  // namespace

PacketContext::PacketContext(Family family, std::vector<uint8_t> bytes)
    : pkt_(std::make_unique<core::Packet>()) {
  pkt_->family = CoreFamily(family);
  pkt_->data = std::move(bytes);
}
PacketContext::~PacketContext() = default;
PacketContext::PacketContext(PacketContext&&) noexcept = default;
PacketContext& PacketContext::operator=(PacketContext&&) noexcept = default;

std::vector<uint8_t>& PacketContext::Bytes() { return pkt_->data; }
uint32_t PacketContext::Mark() const { return pkt_->mark; }
void PacketContext::SetMark(uint32_t mark) { pkt_->mark = mark; }

void PacketContext::SetOwner(uint32_t uid, uint32_t gid,
                             std::vector<uint32_t> groups) {
  pkt_->sk = core::SockOwner{uid, gid, std::move(groups)};
}

void PacketContext::SetMacs(const std::array<uint8_t, 6>& src,
                            const std::array<uint8_t, 6>& dst) {
  pkt_->has_mac = true;
  pkt_->src_mac = src;
  pkt_->dst_mac = dst;
}

void PacketContext::SetTime(double seconds) { pkt_->tstamp = seconds; }

std::string PacketContext::ConntrackState() const {
  if (pkt_->ct == nullptr && pkt_->ctinfo != core::CtInfo::kUntracked &&
      !pkt_->ct_ref)
    return "";
  return core::CtStateName(*pkt_);
}

struct Firewall::Impl {
  explicit Impl(uint64_t seed) : engine(core::EngineOptions{seed, {}}) {
    ifaces.store(std::make_shared<const IfaceMap>());
  }
  core::HookEngine engine;
  core::BuiltinResolver resolver;
  std::atomic<std::shared_ptr<const IfaceMap>> ifaces;
  // Whether any ruleset is loaded: the fast path for an empty firewall.
  std::atomic<bool> modified[2] = {false, false};
};

Firewall::Firewall(uint64_t seed) : impl_(std::make_unique<Impl>(seed)) {}
Firewall::~Firewall() = default;

void Firewall::SetInterfaces(std::vector<Interface> list) {
  auto m = std::make_shared<IfaceMap>();
  for (const Interface& i : list) {
    core::Interface ci;
    ci.name = i.name;
    ci.ifindex = i.index;
    ci.mac = i.mac;
    ci.loopback = i.loopback;
    ci.mtu = i.mtu;
    (*m)[i.name] = ci;
  }
  impl_->ifaces.store(std::move(m));
}

std::optional<std::string> Firewall::Load(Family family, std::string_view text,
                                          std::string_view name) {
  core::RestoreOptions o;
  o.family = CoreFamily(family);
  o.resolver = &impl_->resolver;
  o.filename = std::string(name);
  try {
    std::unique_ptr<core::Ruleset> rs = core::Restore(text, o);
    const bool any = !rs->tables.empty();
    impl_->engine.SetRules(o.family, std::move(rs));
    impl_->modified[family == Family::kIPv6].store(any);
    return std::nullopt;
  } catch (const core::RestoreError& e) {
    return std::string(e.what());
  }
}

HookVerdict Firewall::Check(Hook hook, PacketContext& pkt, std::string_view in,
                            std::string_view out) {
  HookVerdict v;
  core::Packet& p = *pkt.pkt_;
  if (!impl_->modified[p.family == core::Family::kIPv6].load(
          std::memory_order_relaxed))
    return v;
  std::shared_ptr<const IfaceMap> ifaces = impl_->ifaces.load();
  core::Interface tmp_in, tmp_out;
  auto resolve = [&](std::string_view n, core::Interface& tmp)
      -> const core::Interface* {
    if (n.empty()) return nullptr;
    auto it = ifaces->find(n);
    if (it != ifaces->end()) return &it->second;
    tmp.name = std::string(n);
    return &tmp;
  };
  Collect sink(v);
  core::HookResult r = impl_->engine.Run(
      static_cast<core::Hook>(hook), p, resolve(in, tmp_in),
      resolve(out, tmp_out), nullptr, p.tstamp, sink);
  v.accept = r.accepted;
  v.where = r.where;
  return v;
}

std::string Firewall::Save(Family family, bool counters) const {
  return impl_->engine.Save(CoreFamily(family), counters);
}

std::optional<OriginalDestination> Firewall::OriginalDestinationOf(
    const PacketContext& pkt) const {
  const core::Conn* ct = pkt.pkt_->ct;
  if (ct == nullptr || !(ct->status & core::kIpsDstNat)) return std::nullopt;
  // The original tuple's destination is where the client was headed.
  const core::Tuple& t = ct->tuple[core::kDirOriginal];
  OriginalDestination d;
  std::copy(t.dst.b.begin(), t.dst.b.end(), d.addr.begin());
  d.port = t.dport;
  return d;
}

}  // namespace netfence
