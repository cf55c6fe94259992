// Synthetic, realistic data for demos, tests and benchmarks (`harmonia gen`).
//
// Each customer has a latent attitudinal segment (known only to the
// generator) that drives their questionnaire answers; behaviour metrics are
// correlated with it, so a good segmentation visibly separates customers on
// the objective behaviour. Data comes from several sources with overlaps,
// stale and invalid values, and a share of customers is left unprofiled.
// Deterministic: the same options and seed give byte-identical files.
#ifndef HARMONIA_DATAGEN_DATAGEN_H_
#define HARMONIA_DATAGEN_DATAGEN_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "engine/rule_set.h"

namespace harmonia::datagen {

struct GenOptions {
  // Countries (ISO alpha-2) to generate customers for; `customers` each.
  std::vector<std::string> countries = {"DE"};
  int64_t customers = 1000;
  uint64_t seed = 1;
  // Rule sets whose questionnaires and metrics to fill (one per therapy area).
  std::vector<std::shared_ptr<const engine::RuleSet>> rule_sets;
  // The reference date: as_of dates fall before it (a few after, as errors).
  std::string as_of = "2026-11-01";
  double unprofiled_share = 0.12;  // customers missing a required answer
  double invalid_share = 0.005;    // values that fail validation
  double stale_share = 0.03;       // values older than any sensible max age
  double overlap_share = 0.25;     // inputs also reported by a second source
  int64_t refinements = 0;         // rows of refinements.csv per country; -1 = 1% of customers
};

// Writes customers.csv, answers.csv, metrics.csv and refinements.csv (DESIGN
// §7), plus latent.csv (customer_id,therapy_area,latent_segment: the truth,
// for tests and reports) into `out_dir`, which is created if needed.
absl::Status Generate(const GenOptions& options, const std::string& out_dir);

}  // namespace harmonia::datagen

#endif  // HARMONIA_DATAGEN_DATAGEN_H_
