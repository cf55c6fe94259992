#include "console/internal/sessions.h"

#include <openssl/rand.h>

#include <cstdlib>
#include <utility>

#include "absl/strings/escaping.h"

namespace harmonia::console {
namespace {

std::string RandomId() {
  unsigned char bytes[32];
  // OpenSSL's CSPRNG, seeded by the operating system. Without randomness no
  // session can be safe: stop rather than hand out guessable ids.
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) std::abort();
  std::string id;
  absl::WebSafeBase64Escape(absl::string_view(reinterpret_cast<const char*>(bytes), sizeof(bytes)),
                            &id);
  return id;
}

}  // namespace

std::string Sessions::Create(Session session, absl::Time now) {
  session.created = now;
  session.last_used = now;
  std::string id = RandomId();
  std::lock_guard<std::mutex> lock(mu_);
  DropExpired(now);
  by_id_.insert_or_assign(id, std::move(session));
  return id;
}

std::optional<Session> Sessions::Use(const std::string& id, absl::Time now) {
  return Find(id, now, /*touch=*/true);
}

std::optional<Session> Sessions::Peek(const std::string& id, absl::Time now) {
  return Find(id, now, /*touch=*/false);
}

std::optional<Session> Sessions::Find(const std::string& id, absl::Time now, bool touch) {
  std::lock_guard<std::mutex> lock(mu_);
  DropExpired(now);  // ended sessions' tokens leave memory within a minute
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return std::nullopt;
  if (!Live(it->second, now)) {
    by_id_.erase(it);
    return std::nullopt;
  }
  if (touch) it->second.last_used = now;
  return it->second;
}

void Sessions::End(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  by_id_.erase(id);
}

size_t Sessions::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return by_id_.size();
}

void Sessions::DropExpired(absl::Time now) {
  // At most once a minute, so signing in stays O(1) on average.
  if (now - last_sweep_ < absl::Minutes(1)) return;
  last_sweep_ = now;
  absl::erase_if(by_id_, [&](const auto& entry) { return !Live(entry.second, now); });
}

}  // namespace harmonia::console
