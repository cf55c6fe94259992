// `harmonia gen --follow-up`: activities and the objective behaviour after a
// cycle (datagen/datagen.h, GenerateFollowUp).
#include <algorithm>
#include <cmath>
#include <map>
#include <string_view>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/date.h"
#include "common/file.h"
#include "datagen/datagen.h"
#include "datagen/internal/random.h"

namespace harmonia::datagen {
namespace {

using internal::HashName;
using internal::Rng;

// round(x) with the fraction as a probability, so small plans keep their mean.
int64_t StochasticRound(double x, Rng& rng) {
  const double whole = std::floor(x);
  return static_cast<int64_t>(whole) + (rng.Chance(x - whole) ? 1 : 0);
}

struct Objective {
  const engine::InputDef* def = nullptr;
  double lo = 0, hi = 1;
};

Objective ObjectiveOf(const engine::RuleSet& rules) {
  Objective o;
  if (rules.objective_behavior < 0) return o;
  o.def = &rules.inputs[rules.objective_behavior];
  const bool has_min = std::isfinite(o.def->min), has_max = std::isfinite(o.def->max);
  o.lo = has_min ? o.def->min : (has_max ? std::min(0.0, o.def->max - 1) : 0.0);
  o.hi = has_max ? o.def->max : o.lo + std::max(1.0, std::fabs(o.lo));
  return o;
}

}  // namespace

absl::Status GenerateFollowUp(const FollowUpOptions& o, const std::string& out_dir,
                              GenStats* stats) {
  if (o.from >= o.to) {
    return absl::InvalidArgumentError(absl::StrCat("the follow-up period ", FormatIsoDate(o.from),
                                                   " to ", FormatIsoDate(o.to), " is empty"));
  }
  for (double share : {o.honour_share, o.invalid_share}) {
    if (!(share >= 0 && share <= 1)) {
      return absl::InvalidArgumentError(absl::StrCat("share ", share, " is outside [0, 1]"));
    }
  }
  std::map<std::string, Objective, std::less<>> objectives;
  for (const auto& rules : o.rule_sets) objectives[rules->therapy_area] = ObjectiveOf(*rules);

  std::string activities = "customer_id,therapy_area,activity,date,count,source\n";
  std::string metrics = "customer_id,therapy_area,metric_id,value,source,as_of\n";
  int64_t activity_rows = 0, metric_rows = 0;
  const int32_t days = o.to - o.from;
  const std::string measured = FormatIsoDate(o.to - 1);
  for (size_t c = 0; c < o.customers.size(); ++c) {
    const PlannedCustomer& p = o.customers[c];
    Rng rng = Rng::Stream(o.seed, HashName("follow-up"), HashName(p.customer_id),
                          HashName(p.therapy_area));
    const double kind = rng.Uniform();
    double diligence = 0;
    if (kind >= 0.15) {
      const double u = rng.Uniform();
      diligence = kind < 0.55 ? 0.3 + 0.6 * u : 1.0 + 0.2 * u;
    }
    const bool honoured = rng.Chance(o.honour_share);
    const std::array<int32_t, 4>& basis = honoured ? p.plan : p.targets;
    // Touchpoints per (day, activity), in day order.
    std::map<std::pair<int32_t, size_t>, int64_t> done;
    for (size_t k = 0; k < 4; ++k) {
      const int64_t n = StochasticRound(diligence * basis[k], rng);
      for (int64_t t = 0; t < n; ++t) {
        const int32_t day = o.from + static_cast<int32_t>(rng.Below(static_cast<uint64_t>(days)));
        ++done[{day, k}];
      }
    }
    for (const auto& [key, count] : done) {
      const std::string date = FormatIsoDate(key.first);
      const char* activity = engine::kActivityNames[key.second];
      if (rng.Chance(o.invalid_share)) {  // what a broken feed sends
        switch (rng.Below(3)) {
          case 0:
            absl::StrAppend(&activities, p.customer_id, ",", p.therapy_area, ",visit,", date, ",",
                            count, ",crm\n");
            break;
          case 1:
            absl::StrAppend(&activities, p.customer_id, ",", p.therapy_area, ",", activity, ",",
                            date.substr(0, 5), "02-30,", count, ",crm\n");
            break;
          default:
            absl::StrAppend(&activities, p.customer_id, ",", p.therapy_area, ",", activity, ",",
                            date, ",-", count, ",crm\n");
        }
        ++activity_rows;
        continue;
      }
      const int64_t rows = count > 1 && rng.Chance(0.2) ? count : 1;
      for (int64_t r = 0; r < rows; ++r) {
        absl::StrAppend(&activities, p.customer_id, ",", p.therapy_area, ",", activity, ",", date,
                        ",", count / rows, ",crm\n");
      }
      activity_rows += rows;
    }
    auto objective = objectives.find(p.therapy_area);
    if (!p.objective || objective == objectives.end() || objective->second.def == nullptr) {
      continue;
    }
    const Objective& ob = objective->second;
    const double range = ob.hi - ob.lo;
    const double lift = 0.05 * range * (honoured ? 1.0 : 0.6);
    const double noise = rng.Normal() * 0.05 * range;
    double value = std::clamp(*p.objective + lift * std::min(diligence, 1.0) + noise, ob.lo, ob.hi);
    std::string text;
    if (ob.def->type == engine::InputType::kInteger) {
      text = absl::StrCat(static_cast<int64_t>(std::llround(value)));
    } else {
      text = absl::StrFormat("%.4f", value);
    }
    absl::StrAppend(&metrics, p.customer_id, ",", p.therapy_area, ",", ob.def->id, ",", text,
                    ",external,", measured, "\n");
    ++metric_rows;
  }
  for (const auto& [name, text, rows] : {std::tuple{"activities.csv", &activities, activity_rows},
                                         std::tuple{"metrics.csv", &metrics, metric_rows}}) {
    const std::string path = absl::StrCat(out_dir, "/", name);
    if (absl::Status s = WriteFileAtomically(path, *text); !s.ok()) return s;
    if (stats != nullptr) {
      stats->files.push_back({name, rows, static_cast<int64_t>(text->size())});
    }
  }
  return absl::OkStatus();
}

}  // namespace harmonia::datagen
