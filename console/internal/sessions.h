// Signed-in people, kept on the server: the browser holds only a random
// session id (an HttpOnly cookie); the person's token stays here and is
// forwarded with each call they make (docs/console.md "Signing in").
//
// A session ends when it is idle for `idle`, when it is `absolute` old,
// or on sign-out.
//
// Thread-safety: safe for concurrent use.
#ifndef HARMONIA_CONSOLE_INTERNAL_SESSIONS_H_
#define HARMONIA_CONSOLE_INTERNAL_SESSIONS_H_

#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"

namespace harmonia::console {

struct Session {
  std::string token;  // the person's bearer token, forwarded to the services
  std::string principal;
  std::vector<std::string> roles;
  absl::Time created;
  absl::Time last_used;
};

class Sessions {
 public:
  Sessions(absl::Duration idle, absl::Duration absolute) : idle_(idle), absolute_(absolute) {}

  // A new session; returns its id: 32 random bytes, base64url (43
  // characters), from the operating system's random source.
  std::string Create(Session session, absl::Time now);
  // The session of `id` if it is live at `now`; nullopt for an unknown,
  // idle or expired one (which is dropped). Use() also marks it used (its
  // idle clock restarts); Peek() does not, for a request that may yet be
  // refused, which must not keep a session alive.
  std::optional<Session> Use(const std::string& id, absl::Time now);
  std::optional<Session> Peek(const std::string& id, absl::Time now);
  // Ends a session (sign-out); unknown ids are ignored.
  void End(const std::string& id);

  size_t size() const;
  absl::Duration idle() const { return idle_; }
  absl::Duration absolute() const { return absolute_; }

 private:
  bool Live(const Session& s, absl::Time now) const {
    return now - s.last_used < idle_ && now - s.created < absolute_;
  }
  void DropExpired(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::optional<Session> Find(const std::string& id, absl::Time now, bool touch);

  const absl::Duration idle_;
  const absl::Duration absolute_;
  mutable std::mutex mu_;
  absl::flat_hash_map<std::string, Session> by_id_ ABSL_GUARDED_BY(mu_);
  absl::Time last_sweep_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

}  // namespace harmonia::console

#endif  // HARMONIA_CONSOLE_INTERNAL_SESSIONS_H_
