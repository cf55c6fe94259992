// Batch deduplication shared by the backends. INTERNAL to store/.
//
// A batch may hold several rows with one key; the last one is the value
// (DESIGN §6.1: on a tie, the one imported last). Every backend writes only
// that row, so WriteStats count distinct keys and a re-import of the same file
// is a no-op — and PostgreSQL's ON CONFLICT, which cannot touch one row twice
// in a statement, gets each key once.
#ifndef HARMONIA_STORE_INTERNAL_LAST_PER_KEY_H_
#define HARMONIA_STORE_INTERNAL_LAST_PER_KEY_H_

#include <algorithm>
#include <cstdint>
#include <tuple>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/string_view.h"
#include "store/store.h"

namespace harmonia::store::internal {

// The rows of `rows`, keeping for each customer_id only the last, in their
// original order. The pointers point into `rows`.
inline std::vector<const CustomerRow*> LastPerKey(const std::vector<CustomerRow>& rows) {
  absl::flat_hash_set<absl::string_view> seen;
  seen.reserve(rows.size());
  std::vector<const CustomerRow*> out;
  out.reserve(rows.size());
  for (size_t i = rows.size(); i-- > 0;) {
    if (seen.insert(rows[i].customer_id).second) out.push_back(&rows[i]);
  }
  std::reverse(out.begin(), out.end());
  return out;
}

// The rows of `rows`, keeping for each key (customer, therapy area, input,
// source, as_of, answer or metric) only the last, in their original order. The pointers point
// into `rows`.
inline std::vector<const InputRow*> LastPerKey(const std::vector<InputRow>& rows) {
  using Key = std::tuple<absl::string_view, absl::string_view, absl::string_view, absl::string_view,
                         int32_t, bool>;
  absl::flat_hash_set<Key> seen;
  seen.reserve(rows.size());
  std::vector<const InputRow*> out;
  out.reserve(rows.size());
  for (size_t i = rows.size(); i-- > 0;) {
    const InputRow& r = rows[i];
    if (seen.insert(Key{r.customer_id, r.therapy_area, r.input_id, r.source, r.as_of, r.is_metric})
            .second) {
      out.push_back(&r);
    }
  }
  std::reverse(out.begin(), out.end());
  return out;
}

}  // namespace harmonia::store::internal

#endif  // HARMONIA_STORE_INTERNAL_LAST_PER_KEY_H_
