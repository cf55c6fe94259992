// Batch deduplication shared by the backends. INTERNAL to store/.
//
// Customers: a batch may hold several rows with one customer_id; the last one
// is the value, so every backend writes only it (WriteStats count distinct
// ids, and PostgreSQL's ON CONFLICT, which cannot touch one row twice in a
// statement, gets each key once).
//
// Inputs: the store keeps every distinct value of a key with its import order
// (store.h, InputRow). A row repeating an earlier row of the batch (same key
// and value) is written once, at its last position. Keys given one value in
// the batch are written with "make it the latest unless it already is"; keys
// given several values must be written in batch order, each made the latest
// in turn.
#ifndef HARMONIA_STORE_INTERNAL_BATCH_H_
#define HARMONIA_STORE_INTERNAL_BATCH_H_

#include <algorithm>
#include <cstdint>
#include <functional>
#include <iterator>
#include <map>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
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

// Activities: the last row of a key is its count, as for customers.
using ActivityKey =
    std::tuple<absl::string_view, absl::string_view, absl::string_view, int32_t, absl::string_view>;
inline ActivityKey KeyOf(const ActivityRow& r) {
  return ActivityKey{r.customer_id, r.therapy_area, r.activity, r.day, r.source};
}
inline std::vector<const ActivityRow*> LastPerKey(const std::vector<ActivityRow>& rows) {
  absl::flat_hash_set<ActivityKey> seen;
  seen.reserve(rows.size());
  std::vector<const ActivityRow*> out;
  out.reserve(rows.size());
  for (size_t i = rows.size(); i-- > 0;) {
    if (seen.insert(KeyOf(rows[i])).second) out.push_back(&rows[i]);
  }
  std::reverse(out.begin(), out.end());
  return out;
}

// Territories: the last row of a (customer, territory) pair is its rep.
inline std::vector<const TerritoryRow*> LastPerKey(const std::vector<TerritoryRow>& rows) {
  absl::flat_hash_set<std::pair<absl::string_view, absl::string_view>> seen;
  std::vector<const TerritoryRow*> out;
  for (size_t i = rows.size(); i-- > 0;) {
    if (seen.insert({rows[i].customer_id, rows[i].territory}).second) out.push_back(&rows[i]);
  }
  std::reverse(out.begin(), out.end());
  return out;
}

// What replacing countries' territory alignments writes: `rows` (one per
// pair) against `stored`, the countries' pairs as held, (country,
// territory, customer) → rep. Pairs to write (new, or another rep) with
// their country, and the stored pairs the rows no longer hold.
using AlignmentKey = std::tuple<std::string, std::string, std::string>;
struct AlignmentDiff {
  std::vector<std::pair<const TerritoryRow*, std::string>> put;  // row, its country
  std::vector<AlignmentKey> remove;
  AlignmentStats stats;
};
inline AlignmentDiff DiffAlignment(const std::vector<const TerritoryRow*>& rows,
                                   const absl::flat_hash_map<std::string, std::string>& country_of,
                                   std::map<AlignmentKey, std::string> stored) {
  AlignmentDiff d;
  for (const TerritoryRow* r : rows) {
    const std::string& country = country_of.at(r->customer_id);
    auto it = stored.find({country, r->territory, r->customer_id});
    if (it != stored.end()) {
      const bool same = it->second == r->rep;
      stored.erase(it);
      if (same) {
        ++d.stats.unchanged;
        continue;
      }
    }
    d.put.emplace_back(r, country);
    ++d.stats.written;
  }
  for (auto& [key, rep] : stored) d.remove.push_back(key);
  d.stats.removed = static_cast<int64_t>(d.remove.size());
  return d;
}

// Sums the rows of Store::ScanActivityTotals (ordered by customer) per
// customer and hands each customer's counts on.
class ActivityTotals {
 public:
  using Fn = std::function<void(const std::string&, const ActivityCounts&)>;
  explicit ActivityTotals(Fn fn) : fn_(std::move(fn)) {}
  void Add(const std::string& customer_id, std::string_view activity, int64_t count) {
    if (customer_id != customer_) {
      Flush();
      customer_ = customer_id;
    }
    for (size_t k = 0; k < std::size(kActivityNames); ++k) {
      if (activity == kActivityNames[k]) counts_[k] += count;
    }
  }
  // Hands on the last customer's counts.
  void Flush() {
    if (!customer_.empty()) fn_(customer_, counts_);
    customer_.clear();
    counts_ = {};
  }

 private:
  Fn fn_;
  std::string customer_;
  ActivityCounts counts_{};
};

// One input key (customer, therapy area, input, source, as_of, is_metric).
using InputKey = std::tuple<absl::string_view, absl::string_view, absl::string_view,
                            absl::string_view, int32_t, bool>;
inline InputKey KeyOf(const InputRow& r) {
  return InputKey{r.customer_id, r.therapy_area, r.input_id, r.source, r.as_of, r.is_metric};
}

// An input batch as the backends write it. The pointers point into the rows
// given to SplitInputs.
struct InputBatch {
  std::vector<const InputRow*> single;   // keys with one value in the batch
  std::vector<const InputRow*> several;  // keys with several values, in batch order
  size_t size() const { return single.size() + several.size(); }
};

// Splits `rows`: each (key, value) once, at its last position in the batch.
inline InputBatch SplitInputs(const std::vector<InputRow>& rows) {
  absl::flat_hash_set<std::tuple<InputKey, absl::string_view>> seen;
  absl::flat_hash_map<InputKey, int> values;  // distinct values per key
  seen.reserve(rows.size());
  values.reserve(rows.size());
  std::vector<const InputRow*> last;
  last.reserve(rows.size());
  for (size_t i = rows.size(); i-- > 0;) {
    const InputRow& r = rows[i];
    if (seen.insert({KeyOf(r), r.value}).second) {
      last.push_back(&r);
      ++values[KeyOf(r)];
    }
  }
  std::reverse(last.begin(), last.end());
  InputBatch out;
  out.single.reserve(last.size());
  for (const InputRow* r : last) (values[KeyOf(*r)] > 1 ? out.several : out.single).push_back(r);
  return out;
}

// Drops from `several` the keys whose stored values already stand in the
// batch's order with the batch's last value the key's latest (a re-import of
// the same file): writing them again would change nothing but their seqs.
// `stored` holds, for each key of `several` that is stored, its values as
// (value, seq) in any order. Returns how many rows were dropped.
inline size_t DropKeysAlreadyInOrder(
    std::vector<const InputRow*>* several,
    const absl::flat_hash_map<InputKey, std::vector<std::pair<std::string, int64_t>>>& stored) {
  absl::flat_hash_map<InputKey, std::vector<const InputRow*>> groups;
  for (const InputRow* r : *several) groups[KeyOf(*r)].push_back(r);
  absl::flat_hash_set<InputKey> in_order;
  for (const auto& [key, rows] : groups) {
    auto it = stored.find(key);
    if (it == stored.end()) continue;
    int64_t max_seq = 0;
    for (const auto& [value, seq] : it->second) max_seq = std::max(max_seq, seq);
    int64_t previous = -1;
    bool ordered = true;
    for (const InputRow* r : rows) {
      auto v = std::find_if(it->second.begin(), it->second.end(), [&](const auto& stored_value) {
        return stored_value.first == r->value;
      });
      if (v == it->second.end() || v->second <= previous) {
        ordered = false;
        break;
      }
      previous = v->second;
    }
    if (ordered && previous == max_seq) in_order.insert(key);
  }
  const size_t before = several->size();
  several->erase(std::remove_if(several->begin(), several->end(),
                                [&](const InputRow* r) { return in_order.contains(KeyOf(*r)); }),
                 several->end());
  return before - several->size();
}

}  // namespace harmonia::store::internal

#endif  // HARMONIA_STORE_INTERNAL_BATCH_H_
