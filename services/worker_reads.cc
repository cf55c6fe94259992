// WorkerCore, reads: assignments (paged, cached per cycle) and explanations.
#include <algorithm>
#include <iterator>
#include <optional>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "common/text.h"
#include "services/internal/worker_helpers.h"
#include "services/worker_core.h"

namespace harmonia::services {
namespace {

// A read's page size: 1..10000 rows, 0 = 1000.
absl::StatusOr<size_t> PageSize(int page_size) {
  if (page_size < 0 || page_size > 10000) {
    return absl::InvalidArgumentError(
        absl::StrCat("page_size: ", page_size, " outside 1..10000 (0 = 1000)"));
  }
  return page_size == 0 ? size_t{1000} : static_cast<size_t>(page_size);
}

}  // namespace

// ---------------------------------------------------------------- assignments

absl::StatusOr<std::shared_ptr<const WorkerCore::CycleCache>> WorkerCore::LatestCycle(
    const Market& market, const std::string& ta) {
  const std::string key = Key(market.config.country, ta);
  const absl::Time now = absl::Now();
  std::shared_ptr<const CycleCache> cached;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = cycles_.find(key);
    if (it != cycles_.end() && it->second->country_text == market.text) {
      cached = it->second;
      // Another process (harmonia cycle run --store) may commit too: look
      // again at most once a second. One caller looks; the others go on
      // with what is cached meanwhile.
      absl::Time& checked = cycles_checked_[key];
      if (now - checked < absl::Seconds(1)) return cached;
      checked = now;
    }
  }
  // Nothing cached yet: one caller loads, the others wait for it.
  std::unique_lock<std::mutex> loading(loading_mu_, std::defer_lock);
  if (cached == nullptr) {
    loading.lock();
    std::lock_guard<std::mutex> lock(mu_);
    auto it = cycles_.find(key);
    if (it != cycles_.end() && it->second->country_text == market.text) return it->second;
  }
  HARMONIA_ASSIGN_OR_RETURN(StorePool::Lease db, pool_->Acquire());
  absl::StatusOr<std::optional<store::CycleRecord>> latest =
      db->GetCycle(market.config.country, ta, std::nullopt);
  if (!latest.ok()) return latest.status();
  const int64_t id = *latest ? (*latest)->cycle_id : 0;
  if (cached == nullptr || cached->cycle_id != id) {
    auto fresh = std::make_shared<CycleCache>();
    fresh->cycle_id = id;
    fresh->country_text = market.text;
    if (id != 0) {
      absl::StatusOr<std::vector<store::AssignmentRow>> rows = db->GetAssignments(id);
      if (!rows.ok()) return rows.status();
      fresh->rows = std::make_shared<const std::vector<store::AssignmentRow>>(std::move(*rows));
      HARMONIA_ASSIGN_OR_RETURN(std::shared_ptr<const engine::RuleSet> rules,
                                Compiled(*db, ta, (*latest)->rule_set_version));
      fresh->directives =
          std::make_shared<const delivery::Directives>(*rules, market.config.FindTherapyArea(ta));
    }
    cached = std::move(fresh);
  }
  // Kept unless a newer entry got there first: one of a later cycle under
  // the same file, or one from the file in force when this call began with
  // an older one (a reload meanwhile).
  const bool in_force = cached->country_text == CurrentText(market.config.country);
  std::lock_guard<std::mutex> lock(mu_);
  std::shared_ptr<const CycleCache>& slot = cycles_[key];
  const bool same_file = slot != nullptr && slot->country_text == cached->country_text;
  if (slot == nullptr || (same_file && slot->cycle_id <= cached->cycle_id) ||
      (!same_file && in_force)) {
    slot = cached;
    cycles_checked_[key] = now;
  }
  return cached;
}

absl::StatusOr<std::shared_ptr<const WorkerCore::Scope>> WorkerCore::InScope(
    store::Store& db, const std::string& country, const engine::RuleSet& rules) {
  const std::string key = absl::StrCat(Key(country, rules.therapy_area), "/", rules.version);
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = scopes_.find(key);
    if (it != scopes_.end()) return it->second;
  }
  HARMONIA_ASSIGN_OR_RETURN(std::vector<std::string> ids,
                            db.CustomersInScope(country, rules.applies_to));
  auto scope = std::make_shared<Scope>(std::make_move_iterator(ids.begin()),
                                       std::make_move_iterator(ids.end()));
  std::lock_guard<std::mutex> lock(mu_);
  return scopes_.emplace(key, std::move(scope)).first->second;
}

absl::StatusOr<WorkerCore::CycleRows> WorkerCore::RowsOf(const Market& market,
                                                         const std::string& ta, int64_t cycle_id) {
  const std::string& country = market.config.country;
  HARMONIA_ASSIGN_OR_RETURN(std::shared_ptr<const CycleCache> latest, LatestCycle(market, ta));
  if (cycle_id == 0 || cycle_id == latest->cycle_id) {
    if (latest->cycle_id == 0) {
      return absl::NotFoundError(absl::StrCat("country ", country, " ", ta, ": no cycle yet"));
    }
    return CycleRows{latest->cycle_id, latest->rows, latest->directives};
  }
  HARMONIA_ASSIGN_OR_RETURN(StorePool::Lease db, pool_->Acquire());
  const auto key = std::make_tuple(country, ta, cycle_id);
  std::shared_ptr<const std::vector<store::AssignmentRow>> rows;
  int64_t version = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto hit = std::find_if(earlier_.begin(), earlier_.end(),
                            [&](const EarlierCycle& e) { return e.key == key; });
    if (hit != earlier_.end()) {
      std::rotate(hit, hit + 1, earlier_.end());  // now the most recently used
      rows = earlier_.back().rows;
      version = earlier_.back().rule_set_version;
    }
  }
  if (rows == nullptr) {
    absl::StatusOr<std::optional<store::CycleRecord>> c = db->GetCycle(country, ta, cycle_id);
    if (!c.ok()) return c.status();
    if (!*c) {
      return absl::NotFoundError(
          absl::StrCat("country ", country, " ", ta, ": no cycle ", cycle_id));
    }
    absl::StatusOr<std::vector<store::AssignmentRow>> all = db->GetAssignments(cycle_id);
    if (!all.ok()) return all.status();
    rows = std::make_shared<const std::vector<store::AssignmentRow>>(std::move(*all));
    version = (*c)->rule_set_version;
    std::lock_guard<std::mutex> lock(mu_);
    // Another call may have read the same cycle meanwhile: keep one entry.
    std::erase_if(earlier_, [&](const EarlierCycle& e) { return e.key == key; });
    if (earlier_.size() == kEarlierCycles) earlier_.erase(earlier_.begin());
    earlier_.push_back({key, rows, version});
  }
  HARMONIA_ASSIGN_OR_RETURN(std::shared_ptr<const engine::RuleSet> rules,
                            Compiled(*db, ta, version));
  return CycleRows{
      cycle_id, std::move(rows),
      std::make_shared<const delivery::Directives>(*rules, market.config.FindTherapyArea(ta))};
}

absl::StatusOr<WorkerCore::ChangesPage> WorkerCore::ListChanges(const auth::Principal& who,
                                                                const ChangesQuery& q) {
  HARMONIA_ASSIGN_OR_RETURN(std::shared_ptr<const Market> market,
                            Served(who, q.country, "reading changes", kReaders));
  if (market->config.FindTherapyArea(q.therapy_area) == nullptr) {
    return absl::NotFoundError(absl::StrCat("country ", q.country, ": does not run therapy area ",
                                            Quoted(q.therapy_area)));
  }
  HARMONIA_ASSIGN_OR_RETURN(const size_t page, PageSize(q.page_size));
  if (q.since_cycle_id <= 0) {
    return absl::InvalidArgumentError(
        "since_cycle_id: required, the earlier cycle to compare with (a cycle id of the market)");
  }
  HARMONIA_ASSIGN_OR_RETURN(CycleRows now, RowsOf(*market, q.therapy_area, q.cycle_id));
  HARMONIA_ASSIGN_OR_RETURN(CycleRows before, RowsOf(*market, q.therapy_area, q.since_cycle_id));
  ChangesPage out;
  out.cycle_id = now.cycle_id;
  out.since_cycle_id = before.cycle_id;
  out.now = now.rows;
  out.before = before.rows;
  out.directives = now.directives;
  delivery::ForEachChange(*before.rows, *now.rows, q.after_customer_id,
                          [&](const delivery::Change& change) {
                            if (out.changes.size() == page) {
                              out.next_after = out.changes.back().customer_id();
                              return false;
                            }
                            out.changes.push_back(change);
                            return true;
                          });
  return out;
}

absl::StatusOr<WorkerCore::AssignmentPage> WorkerCore::QueryAssignments(const auth::Principal& who,
                                                                        const AssignmentQuery& q) {
  HARMONIA_ASSIGN_OR_RETURN(std::shared_ptr<const Market> market,
                            Served(who, q.country, "reading assignments", kReaders));
  const engine::TherapyAreaConfig* ta = market->config.FindTherapyArea(q.therapy_area);
  if (ta == nullptr) {
    return absl::NotFoundError(absl::StrCat("country ", q.country, ": does not run therapy area ",
                                            Quoted(q.therapy_area)));
  }
  HARMONIA_ASSIGN_OR_RETURN(const size_t page, PageSize(q.page_size));
  AssignmentPage out;
  HARMONIA_ASSIGN_OR_RETURN(CycleRows cycle, RowsOf(*market, q.therapy_area, q.cycle_id));
  out.cycle_id = cycle.cycle_id;
  out.directives = cycle.directives;
  const std::vector<store::AssignmentRow>* rows = cycle.rows.get();
  // Who the customers are, when a filter or the page needs it.
  std::shared_ptr<const Alignment> alignment;
  std::shared_ptr<const Directory> directory;
  const bool by_territory = !q.territory.empty() || q.mine;
  if (by_territory || q.include_customer) {
    HARMONIA_ASSIGN_OR_RETURN(alignment, AlignmentOf(q.country));
  }
  if (q.include_customer || !q.search.empty()) {
    HARMONIA_ASSIGN_OR_RETURN(directory, DirectoryOf(q.country));
  }
  // The customers wanted, when a list or territories narrow them: walked in
  // id order and looked up in the rows (a territory is a small part of a
  // country), instead of reading every row. nullopt = every customer.
  std::optional<std::vector<std::string>> wanted;
  if (!q.customer_ids.empty()) {
    wanted = q.customer_ids;
    std::sort(wanted->begin(), wanted->end());
    wanted->erase(std::unique(wanted->begin(), wanted->end()), wanted->end());
  }
  // The territories whose customers are wanted: the named one, the
  // caller's (mine), or both (their intersection).
  if (by_territory) {
    std::vector<std::string> names;
    if (q.mine) {
      auto it = alignment->territories_by_rep.find(who.name);
      if (it != alignment->territories_by_rep.end()) names = it->second;
      if (!q.territory.empty()) {
        names = std::find(names.begin(), names.end(), q.territory) != names.end()
                    ? std::vector<std::string>{q.territory}
                    : std::vector<std::string>{};
      }
    } else {
      names = {q.territory};
    }
    std::vector<std::string> in_territories;
    for (const std::string& t : names) {
      auto it = alignment->customers_of.find(t);
      if (it == alignment->customers_of.end()) continue;
      std::vector<std::string> merged;
      std::set_union(in_territories.begin(), in_territories.end(), it->second.begin(),
                     it->second.end(), std::back_inserter(merged));
      in_territories = std::move(merged);
    }
    if (wanted) {
      std::vector<std::string> both;
      std::set_intersection(wanted->begin(), wanted->end(), in_territories.begin(),
                            in_territories.end(), std::back_inserter(both));
      in_territories = std::move(both);
    }
    wanted = std::move(in_territories);
  }
  const std::string needle = FoldForSearch(q.search);
  auto matches = [&](const store::AssignmentRow& r) {
    if (!q.segment.empty() && r.segment != q.segment) return false;
    if (!q.tier.empty() && r.tier != q.tier) return false;
    if (!needle.empty()) {
      auto it = directory->by_id.find(r.customer_id);
      if (it == directory->by_id.end() ? !absl::StrContains(FoldForSearch(r.customer_id), needle)
                                       : !absl::StrContains(it->second.folded, needle)) {
        return false;
      }
    }
    return true;
  };
  const auto by_id = [](const store::AssignmentRow& r, const std::string& id) {
    return r.customer_id < id;
  };
  if (wanted) {
    auto from = q.after_customer_id.empty()
                    ? wanted->begin()
                    : std::upper_bound(wanted->begin(), wanted->end(), q.after_customer_id);
    for (auto id_it = from; id_it != wanted->end(); ++id_it) {
      const std::string& id = *id_it;
      auto it = std::lower_bound(rows->begin(), rows->end(), id, by_id);
      if (it != rows->end() && it->customer_id == id && matches(*it)) {
        if (out.rows.size() == page) {
          out.next_after = out.rows.back().customer_id;
          break;
        }
        out.rows.push_back(*it);
      }
    }
  } else {
    auto it = q.after_customer_id.empty()
                  ? rows->begin()
                  : std::upper_bound(rows->begin(), rows->end(), q.after_customer_id,
                                     [](const std::string& id, const store::AssignmentRow& r) {
                                       return id < r.customer_id;
                                     });
    for (; it != rows->end(); ++it) {
      if (!matches(*it)) continue;
      if (out.rows.size() == page) {
        out.next_after = out.rows.back().customer_id;
        break;
      }
      out.rows.push_back(*it);
    }
  }
  if (q.include_customer) {
    out.customers.reserve(out.rows.size());
    for (const store::AssignmentRow& r : out.rows) {
      CustomerInfo& info = out.customers.emplace_back();
      if (auto it = directory->by_id.find(r.customer_id); it != directory->by_id.end()) {
        info.name = it->second.name;
        info.specialty = it->second.specialty;
      }
      if (auto it = alignment->territories_of.find(r.customer_id);
          it != alignment->territories_of.end()) {
        info.territories = it->second;
      }
    }
  }
  return out;
}

absl::StatusOr<cycle::Explanation> WorkerCore::Explain(const auth::Principal& who,
                                                       const std::string& country,
                                                       const std::string& therapy_area,
                                                       const std::string& customer_id,
                                                       int64_t cycle_id) {
  HARMONIA_ASSIGN_OR_RETURN(std::shared_ptr<const Market> market,
                            Served(who, country, "reading assignments", kReaders));
  HARMONIA_ASSIGN_OR_RETURN(StorePool::Lease db, pool_->Acquire());
  absl::StatusOr<std::optional<store::CustomerRow>> customer = db->GetCustomer(customer_id);
  if (!customer.ok()) return customer.status();
  // A customer of another country answers exactly as an unknown one.
  if (!*customer || (*customer)->country != country) {
    return absl::NotFoundError(NotACustomerOf(customer_id, country));
  }
  absl::StatusOr<std::optional<store::CycleRecord>> cycle = db->GetCycle(
      country, therapy_area, cycle_id == 0 ? std::nullopt : std::optional<int64_t>(cycle_id));
  if (!cycle.ok()) return cycle.status();
  if (!*cycle) {
    return absl::NotFoundError(absl::StrCat("country ", country, " ", therapy_area, ": no cycle",
                                            cycle_id == 0 ? " yet" : absl::StrCat(" ", cycle_id)));
  }
  const store::CycleRecord& c = **cycle;
  absl::StatusOr<std::optional<store::AssignmentRow>> row =
      db->GetAssignment(c.cycle_id, customer_id);
  if (!row.ok()) return row.status();
  if (!*row) {
    return absl::NotFoundError(absl::StrCat("customer ", Quoted(customer_id), ": not in cycle ",
                                            c.cycle_id, " of ", country, " ", therapy_area,
                                            " (out of scope)"));
  }
  HARMONIA_ASSIGN_OR_RETURN(std::shared_ptr<const engine::RuleSet> rules,
                            Compiled(*db, therapy_area, c.rule_set_version));
  const std::optional<engine::CountryConfig> as_run = cycle::CountryAsRun(c, *rules);
  const engine::CountryConfig& config = as_run ? *as_run : market->config;
  absl::StatusOr<cycle::Explanation> e =
      cycle::ExplainCustomer(*db, rules, config, c, std::move(**row));
  // The request was fine: what no longer fits is the stored cycle.
  if (e.status().code() == absl::StatusCode::kInvalidArgument) {
    return absl::InternalError(absl::StrCat("cycle ", c.cycle_id, ": ", e.status().message()));
  }
  return e;
}

}  // namespace harmonia::services
