#include "store/store.h"

#include "absl/strings/str_cat.h"
#include "store/internal/postgres_store.h"
#include "store/internal/sqlite_store.h"

namespace harmonia::store {

absl::StatusOr<std::unique_ptr<Store>> OpenStore(const std::string& url) {
  if (url.rfind("sqlite:", 0) == 0) {
    absl::StatusOr<std::unique_ptr<internal::SqliteStore>> s =
        internal::SqliteStore::Open(url.substr(7));
    if (!s.ok()) return s.status();
    return std::unique_ptr<Store>(std::move(*s));
  }
  if (url.rfind("postgresql://", 0) == 0 || url.rfind("postgres://", 0) == 0) {
    absl::StatusOr<std::unique_ptr<internal::PostgresStore>> s = internal::PostgresStore::Open(url);
    if (!s.ok()) return s.status();
    return std::unique_ptr<Store>(std::move(*s));
  }
  return absl::InvalidArgumentError(
      absl::StrCat("store URL '", internal::RedactPostgresUrl(url),
                   "': expected sqlite:PATH or postgresql://USER@HOST:PORT/DB"));
}

}  // namespace harmonia::store
