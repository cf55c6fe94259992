#include "tests/support/golden_store.h"

#include <algorithm>
#include <set>
#include <vector>

#include "common/status_macros.h"
#include "exchange/exchange.h"

namespace harmonia::testing {

absl::Status ImportGolden(store::Store& store, const std::string& source_dir) {
  const std::string data = source_dir + "/tests/golden/data/";
  std::vector<exchange::RowProblem> problems;
  std::vector<store::CustomerRow> customers;
  std::set<std::string> known;
  HARMONIA_RETURN_IF_ERROR(exchange::ForEachCustomer(
      data + "customers.csv", &problems,
      [&](const exchange::CustomerFields& c, const exchange::Reject&) {
        customers.push_back({std::string(c.customer_id), std::string(c.country),
                             std::string(c.customer_type), std::string(c.specialty),
                             std::string(c.name)});
        known.insert(std::string(c.customer_id));
      }));
  HARMONIA_RETURN_IF_ERROR(store.UpsertCustomers(customers).status());
  std::vector<store::InputRow> inputs;
  for (const auto& [file, kind] : {std::pair{"answers.csv", exchange::InputKind::kAnswers},
                                   std::pair{"metrics.csv", exchange::InputKind::kMetrics}}) {
    const exchange::InputKind k = kind;
    HARMONIA_RETURN_IF_ERROR(exchange::ForEachInput(
        data + file, k, &problems, [&](const exchange::InputFields& f, const exchange::Reject&) {
          if (!known.count(std::string(f.customer_id))) return;
          inputs.push_back({std::string(f.customer_id), std::string(f.therapy_area),
                            k == exchange::InputKind::kMetrics, std::string(f.input_id),
                            std::string(f.value), engine::SourceName(f.source), f.as_of});
        }));
  }
  return store.UpsertInputs(inputs).status();
}

}  // namespace harmonia::testing
