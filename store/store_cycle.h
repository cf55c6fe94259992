// One cycle of one (country, therapy area) against a store (DESIGN §6): the
// rule-set version the country's pin allows, the country's options, inputs
// selected from the store, pull-through from the previous committed cycle,
// and one atomic commit of every assignment. Used by `harmonia cycle run`
// (and, later, the country workers).
#ifndef HARMONIA_STORE_STORE_CYCLE_H_
#define HARMONIA_STORE_STORE_CYCLE_H_

#include <array>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "engine/country_config.h"
#include "engine/cycle.h"
#include "store/store.h"

namespace harmonia::store {

struct StoreCycleOptions {
  const engine::CountryConfig* country = nullptr;  // REQUIRES: not null
  std::string country_text;                        // the file as used, kept with the cycle
  std::string therapy_area;
  int32_t as_of = 0;  // the cycle date, days since 1970-01-01
  int threads = 1;
  int64_t now_unix = 0;  // commit time to record
};

struct StoreCycleResult {
  CycleRecord cycle;  // as committed, with its cycle_id
  engine::DataQuality quality;
  std::array<int64_t, 5> decided_by{};  // by engine::DecidedBy
  int64_t unknown_inputs = 0;           // stored values for ids the rule set does not have
};

// NotFound: no published rule set (or not the pinned version) for the therapy
// area. FailedPrecondition: the country does not run the therapy area.
// InvalidArgument: the stored rule set no longer compiles, or the country's
// options are not on its menu (the message lists the issues).
absl::StatusOr<StoreCycleResult> RunStoreCycle(Store& store, const StoreCycleOptions& options);

}  // namespace harmonia::store

#endif  // HARMONIA_STORE_STORE_CYCLE_H_
