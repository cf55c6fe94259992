#include "datagen/datagen.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <set>

#include "common/csv.h"
#include "common/date.h"
#include "common/file.h"
#include "engine/country_config.h"
#include "engine/cycle.h"
#include "engine/evaluator.h"
#include "exchange/exchange.h"

namespace harmonia::datagen {
namespace {

const std::string kSource = HARMONIA_SOURCE_DIR;
const char* const kFiles[] = {"customers.csv", "answers.csv", "metrics.csv", "refinements.csv",
                              "latent.csv"};

std::string Render(const std::vector<Issue>& issues) {
  std::string out;
  for (const Issue& i : issues) out += FormatIssue(i) + "\n";
  return out;
}

std::string Slurp(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFileToString(path, size_t{1} << 30);
  EXPECT_TRUE(text.ok()) << text.status();
  return text.ok() ? *text : "";
}

std::shared_ptr<const engine::RuleSet> Rules(const std::string& ta) {
  const std::string path = kSource + "/rules/" + ta + ".yaml";
  engine::CompileResult r = engine::CompileRuleSet(Slurp(path), path);
  EXPECT_NE(r.rule_set, nullptr) << Render(r.issues);
  return r.rule_set;
}

// A fresh, empty folder under the test's temporary directory.
std::string FreshDir(const std::string& name) {
  const std::string dir = testing::TempDir() + "/datagen_test_" + name;
  std::filesystem::remove_all(dir);
  return dir;
}

std::map<std::string, std::string> ReadOutput(const std::string& dir) {
  std::map<std::string, std::string> out;
  for (const char* f : kFiles) out[f] = Slurp(dir + "/" + f);
  return out;
}

std::vector<std::vector<std::string>> ParseCsv(const std::string& text) {
  csv::Reader reader(text);
  std::vector<std::string_view> fields;
  csv::ParseError error;
  std::vector<std::vector<std::string>> rows;
  while (reader.Next(&fields, &error)) {
    EXPECT_EQ(error.message, "") << "line " << error.line;
    rows.emplace_back(fields.begin(), fields.end());
  }
  return rows;
}

GenOptions AllTherapyAreas() {
  return {.countries = {"FR", "DE"},
          .customers = 1500,
          .seed = 11,
          .rule_sets = {Rules("oncology"), Rules("diabetes"), Rules("immunology")}};
}

TEST(GenerateTest, SameOptionsGiveTheSameBytesWhateverTheThreads) {
  GenOptions options = AllTherapyAreas();
  options.threads = 1;
  const std::string a = FreshDir("same_a"), b = FreshDir("same_b"), c = FreshDir("same_c"),
                    d = FreshDir("same_d");
  ASSERT_TRUE(Generate(options, a).ok());
  ASSERT_TRUE(Generate(options, b).ok());
  const auto first = ReadOutput(a);
  EXPECT_TRUE(first == ReadOutput(b));
  for (const auto& [name, text] : first) EXPECT_GT(text.size(), 100u) << name;

  // More threads, and rule sets given in another order: the same bytes.
  options.threads = 3;
  std::swap(options.rule_sets[0], options.rule_sets[2]);
  ASSERT_TRUE(Generate(options, c).ok());
  EXPECT_TRUE(first == ReadOutput(c));

  options.seed = 12;
  ASSERT_TRUE(Generate(options, d).ok());
  const auto other = ReadOutput(d);
  for (const char* f : kFiles) EXPECT_NE(first.at(f), other.at(f)) << f;
}

TEST(GenerateTest, ChunksRunInParallelAndJoinInOrder) {
  // Enough customers for several chunks per round and several rounds.
  GenOptions options{
      .countries = {"DE", "SE"}, .customers = 40000, .seed = 3, .rule_sets = {Rules("oncology")}};
  const std::string a = FreshDir("chunks_a"), b = FreshDir("chunks_b");
  options.threads = 1;
  ASSERT_TRUE(Generate(options, a).ok());
  options.threads = 3;
  ASSERT_TRUE(Generate(options, b).ok());
  EXPECT_TRUE(ReadOutput(a) == ReadOutput(b));
}

TEST(GenerateTest, HeadersAreExactAndRowsAreInCustomerOrder) {
  const std::string dir = FreshDir("headers");
  GenStats stats;
  ASSERT_TRUE(Generate(AllTherapyAreas(), dir, &stats).ok());
  const std::map<std::string, std::string> headers = {
      {"customers.csv", "customer_id,country,customer_type,specialty,name"},
      {"answers.csv", "customer_id,therapy_area,question_id,value,source,as_of"},
      {"metrics.csv", "customer_id,therapy_area,metric_id,value,source,as_of"},
      {"refinements.csv",
       "request_id,customer_id,therapy_area,segment,calls_delta,reason,comment,submitted_by"},
      {"latent.csv", "customer_id,therapy_area,latent_segment"},
  };
  ASSERT_EQ(stats.files.size(), 5u);
  for (const GenStats::File& f : stats.files) {
    const std::string text = Slurp(dir + "/" + f.name);
    EXPECT_EQ(text.substr(0, text.find('\n')), headers.at(f.name));
    EXPECT_EQ(f.bytes, static_cast<int64_t>(text.size())) << f.name;
    const auto rows = ParseCsv(text);
    EXPECT_EQ(f.rows + 1, static_cast<int64_t>(rows.size())) << f.name;
    if (f.name == "refinements.csv") continue;
    // Sorted by customer id (bytewise), countries together.
    for (size_t r = 2; r < rows.size(); ++r) {
      ASSERT_LE(rows[r - 1][0], rows[r][0]) << f.name << " row " << r;
    }
  }
  const auto customers = ParseCsv(Slurp(dir + "/customers.csv"));
  ASSERT_EQ(customers.size(), 3001u);
  EXPECT_EQ(customers[1][0], "DE000000001");
  EXPECT_EQ(customers[1501][0], "FR000000001");
  EXPECT_EQ(customers[3000][0], "FR000001500");
  std::set<std::string> types;
  int quoted = 0;
  for (size_t r = 1; r < customers.size(); ++r) {
    types.insert(customers[r][2]);
    quoted += customers[r][4].find_first_of(",\"") != std::string::npos;
  }
  EXPECT_EQ(types, (std::set<std::string>{"nurse", "nurse_practitioner", "pcp", "specialist"}));
  EXPECT_GT(quoted, 0) << "no name exercises CSV quoting";
}

TEST(GenerateTest, FilesReadBackWithOnlyTheIntendedProblems) {
  const std::string dir = FreshDir("read_back");
  const GenOptions options = AllTherapyAreas();
  ASSERT_TRUE(Generate(options, dir).ok());
  const engine::CountryConfig de{
      .country = "DE",
      .data_sources = {engine::Source::kRep, engine::Source::kExternal, engine::Source::kLocal},
      .max_input_age_days = 540};
  const int32_t day = *ParseIsoDate(options.as_of);
  for (const auto& rules : options.rule_sets) {
    SCOPED_TRACE(rules->therapy_area);
    std::vector<exchange::RowProblem> problems;
    absl::StatusOr<exchange::Universe> universe =
        exchange::ReadCustomers(dir + "/customers.csv", "DE", rules->applies_to, &problems);
    ASSERT_TRUE(universe.ok()) << universe.status();
    EXPECT_TRUE(problems.empty());
    EXPECT_GT(universe->ids.size(), 300u);
    EXPECT_EQ(universe->ids.size() + universe->out_of_scope.size(), 3000u);

    engine::InputSelector selector(*rules, de, day, universe->ids.size());
    exchange::InputCounts counts;
    for (auto [file, kind] : {std::pair{"answers.csv", exchange::InputKind::kAnswers},
                              std::pair{"metrics.csv", exchange::InputKind::kMetrics}}) {
      ASSERT_TRUE(exchange::ReadInputs(dir + "/" + file, kind, *rules, de, *universe, day, 2,
                                       &selector, &counts, &problems)
                      .ok());
    }
    // The only rejected rows: invalid values, on purpose (the selector counts
    // exactly those; malformed rows, unknown ids, sources or dates it never sees).
    EXPECT_EQ(counts.rejected, static_cast<int64_t>(problems.size()));
    EXPECT_GT(counts.other_therapy_area, 0);
    EXPECT_GT(counts.out_of_scope, 0);  // FR customers, and a few stray rows
    const engine::DataQuality& q = selector.quality();
    EXPECT_EQ(q.Total(engine::InputIssue::kInvalid), counts.rejected);
    EXPECT_GT(q.Total(engine::InputIssue::kInvalid), 0);
    EXPECT_GT(q.Total(engine::InputIssue::kStale), 0);
  }
  // Future-dated rows exist (0.1% of rows: look across both files).
  int future = 0;
  for (const char* file : {"answers.csv", "metrics.csv"}) {
    const auto rows = ParseCsv(Slurp(dir + "/" + file));
    for (size_t r = 1; r < rows.size(); ++r) future += rows[r][5] > options.as_of;
  }
  EXPECT_GT(future, 0);

  std::vector<exchange::RowProblem> problems;
  auto refinements = exchange::ReadRefinements(dir + "/refinements.csv", &problems);
  ASSERT_TRUE(refinements.ok());
  EXPECT_TRUE(problems.empty());
  ASSERT_EQ(refinements->size(), 30u);  // 1% of 1500, per country
  EXPECT_EQ((*refinements)[0].request_id, "REQ-DE-000001");
  EXPECT_EQ((*refinements)[15].request_id, "REQ-FR-000001");
  for (const auto& r : *refinements) {
    EXPECT_EQ(r.submitted_by.find('.'), 3u) << r.submitted_by;  // rep.name or mgr.name
    EXPECT_TRUE(!r.segment.empty() || !r.calls_delta.empty()) << r.request_id;
  }
}

// Reads latent.csv: customer id → latent segment, for one therapy area.
std::map<std::string, std::string> Latent(const std::string& dir, const std::string& ta) {
  std::map<std::string, std::string> out;
  const auto rows = ParseCsv(Slurp(dir + "/latent.csv"));
  for (size_t r = 1; r < rows.size(); ++r) {
    if (rows[r][1] == ta) out[rows[r][0]] = rows[r][2];
  }
  return out;
}

// Between-group share of the variance of `value` across `group`.
double EtaSquared(const std::vector<std::pair<std::string, double>>& samples) {
  std::map<std::string, std::pair<double, int64_t>> groups;
  double sum = 0;
  for (const auto& [g, v] : samples) {
    groups[g].first += v;
    groups[g].second += 1;
    sum += v;
  }
  const double mean = sum / static_cast<double>(samples.size());
  double total = 0, between = 0;
  for (const auto& [g, v] : samples) total += (v - mean) * (v - mean);
  for (const auto& [g, s] : groups) {
    const double m = s.first / static_cast<double>(s.second);
    between += static_cast<double>(s.second) * (m - mean) * (m - mean);
  }
  return total > 0 ? between / total : 0;
}

TEST(GenerateTest, TheRuleSetRecoversTheLatentSegments) {
  const std::string dir = FreshDir("quality");
  auto rules = Rules("oncology");
  ASSERT_NE(rules, nullptr);
  GenOptions options{.countries = {"DE"}, .customers = 6000, .seed = 7, .rule_sets = {rules}};
  options.refinements = 400;
  ASSERT_TRUE(Generate(options, dir).ok());

  // The shipped German country file: its sources, age limit and options.
  const std::string country_path = kSource + "/countries/DE.yaml";
  engine::CountryLoadResult country = engine::LoadCountryConfig(
      Slurp(country_path), country_path,
      [&](const std::string& ta) { return ta == "oncology" ? rules.get() : nullptr; }, true);
  ASSERT_TRUE(country.config.has_value()) << Render(country.issues);
  IssueList issues(country_path);
  engine::Options engine_options;
  ASSERT_TRUE(engine::ResolveOptions(*rules, country.config->FindTherapyArea("oncology")->options,
                                     &issues, &engine_options));

  const int32_t day = *ParseIsoDate(options.as_of);
  std::vector<exchange::RowProblem> problems;
  auto universe =
      exchange::ReadCustomers(dir + "/customers.csv", "DE", rules->applies_to, &problems);
  ASSERT_TRUE(universe.ok());
  engine::InputSelector selector(*rules, *country.config, day, universe->ids.size());
  exchange::InputCounts counts;
  for (auto [file, kind] : {std::pair{"answers.csv", exchange::InputKind::kAnswers},
                            std::pair{"metrics.csv", exchange::InputKind::kMetrics}}) {
    ASSERT_TRUE(exchange::ReadInputs(dir + "/" + file, kind, *rules, *country.config, *universe,
                                     day, 2, &selector, &counts, &problems)
                    .ok());
  }
  const engine::Batch batch = selector.batch();
  const engine::Evaluator evaluator(rules, engine_options);
  engine::Results results;
  results.Resize(batch.size, rules->scores.size());
  evaluator.EvaluateAll(batch, &results);

  const auto latent = Latent(dir, "oncology");
  ASSERT_EQ(latent.size(), universe->ids.size());
  int64_t profiled = 0, recovered = 0, unprofiled = 0;
  std::vector<std::pair<std::string, double>> by_latent, by_assigned;
  std::set<std::string> latent_segments, assigned_segments;
  const double* objective = batch.columns[rules->objective_behavior];
  for (size_t i = 0; i < batch.size; ++i) {
    const std::string& truth = latent.at(universe->ids[i]);
    const std::string& assigned = rules->segments[results.segment[i]].id;
    latent_segments.insert(truth);
    assigned_segments.insert(assigned);
    if (results.decided_by[i] == engine::DecidedBy::kRules) {
      ++profiled;
      recovered += truth == assigned;
    } else {
      ++unprofiled;
    }
    if (!std::isnan(objective[i])) {
      by_latent.emplace_back(truth, objective[i]);
      by_assigned.emplace_back(assigned, objective[i]);
    }
  }
  // Every segment but `unprofiled` is someone's truth; the rules assign all.
  EXPECT_EQ(latent_segments.size(), rules->segments.size() - 1);
  EXPECT_EQ(assigned_segments.size(), rules->segments.size());
  const double unprofiled_share = static_cast<double>(unprofiled) / batch.size;
  EXPECT_GT(unprofiled_share, 0.08);
  EXPECT_LT(unprofiled_share, 0.20);
  const double recovery = static_cast<double>(recovered) / profiled;
  EXPECT_GT(recovery, 0.6) << recovered << " of " << profiled << " profiled customers";
  // The objective behaviour differs by latent segment, and by assigned
  // segment clearly more than the rule set's own quality bar.
  EXPECT_GT(EtaSquared(by_latent), 0.2);
  EXPECT_GT(EtaSquared(by_assigned), rules->min_differentiation);

  // Refinements: mostly valid, a few invalid on purpose.
  auto refinements = exchange::ReadRefinements(dir + "/refinements.csv", &problems);
  ASSERT_TRUE(refinements.ok());
  engine::CycleInput in;
  in.evaluator = &evaluator;
  in.batch = &batch;
  in.customer_ids = &universe->ids;
  in.refinements = &*refinements;
  in.country = "DE";
  in.out_of_scope_reason = [&](const std::string& id) {
    auto it = universe->out_of_scope.find(id);
    return it == universe->out_of_scope.end() ? std::string() : it->second;
  };
  const engine::CycleOutput cycle = engine::RunCycle(in);
  int64_t applied = 0, rejected = 0;
  for (const auto& outcome : cycle.refinements) {
    applied += outcome.status == engine::RefinementOutcome::Status::kApplied;
    rejected += outcome.status == engine::RefinementOutcome::Status::kRejected;
  }
  EXPECT_GT(applied, 300);
  EXPECT_GT(rejected, 5);
  EXPECT_LT(rejected, 60);
}

TEST(GenerateTest, RejectsInconsistentOptions) {
  const std::string dir = FreshDir("bad");
  auto generate = [&](GenOptions o) { return Generate(o, dir).code(); };
  EXPECT_EQ(generate({.countries = {"de"}}), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(generate({.countries = {}}), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(generate({.as_of = "2026-02-30"}), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(generate({.overlap_share = 1.5}), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(generate({.customers = -1}), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(generate({.rule_sets = {Rules("oncology"), Rules("oncology")}}),
            absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(std::filesystem::exists(dir + "/customers.csv"));
}

// The follow-up: activities from each customer's plan, with realistic
// attainment; the objective behaviour moves more where the plan was done.
TEST(GenerateFollowUpTest, ActivitiesFollowThePlanPartlyAndReadBack) {
  FollowUpOptions o;
  o.from = *ParseIsoDate("2026-11-01");
  o.to = *ParseIsoDate("2027-02-01");
  o.rule_sets = {Rules("oncology")};
  for (int c = 0; c < 4000; ++c) {
    PlannedCustomer p{absl::StrCat("DE", 100000 + c), "oncology", {10, 0, 0, 0}, {4, 3, 3, 0}};
    p.objective = 0.3;
    o.customers.push_back(p);
  }
  const std::string dir = ::testing::TempDir() + "/follow-up";
  std::filesystem::create_directories(dir);
  ASSERT_TRUE(GenerateFollowUp(o, dir).ok());
  const std::string first = Slurp(dir + "/activities.csv");
  ASSERT_TRUE(GenerateFollowUp(o, dir).ok());
  EXPECT_EQ(Slurp(dir + "/activities.csv"), first) << "same options, same bytes";

  std::map<std::string, std::array<int64_t, 4>> done;
  std::vector<exchange::RowProblem> problems;
  int64_t rows = 0;
  ASSERT_TRUE(
      exchange::ForEachActivity(dir + "/activities.csv", &problems,
                                [&](const exchange::ActivityFields& a, const exchange::Reject&) {
                                  ++rows;
                                  EXPECT_GE(a.day, o.from);
                                  EXPECT_LT(a.day, o.to);
                                  size_t k = 0;
                                  while (engine::kActivityNames[k] != a.activity) ++k;
                                  done[std::string(a.customer_id)][k] += a.count;
                                })
          .ok());
  // About 0.2% of the rows are broken on purpose, each reported.
  EXPECT_GT(problems.size(), 0u);
  EXPECT_LT(static_cast<double>(problems.size()), 0.01 * static_cast<double>(rows));
  int nothing = 0, honoured = 0, full = 0;
  for (const PlannedCustomer& p : o.customers) {
    auto it = done.find(p.customer_id);
    if (it == done.end()) {
      ++nothing;
      continue;
    }
    const auto& d = it->second;
    // At most 120% of each activity, rounded up: 12 of the targets, 5 + 4 + 4 of the plan.
    EXPECT_LE(d[0] + d[1] + d[2] + d[3], 13) << p.customer_id;
    if (d[1] + d[2] > 0) ++honoured;  // only the plan has remote and e-mail
    if (d[0] + d[1] + d[2] + d[3] >= 10) ++full;
  }
  // 15% of reps do nothing; 60% honour the preference; about half reach the plan.
  EXPECT_NEAR(nothing / 4000.0, 0.15, 0.03);
  EXPECT_NEAR(honoured / 4000.0, 0.6 * 0.85, 0.04);
  EXPECT_NEAR(full / 4000.0, 0.45, 0.05);

  // The objective behaviour: one value per customer, within the metric's
  // bounds, higher on average where more of the plan was carried out.
  double sum_full = 0, sum_none = 0;
  int n_full = 0, n_none = 0;
  std::vector<std::string_view> f;
  csv::ParseError error;
  std::string text = Slurp(dir + "/metrics.csv");
  csv::Reader metrics(text);
  ASSERT_TRUE(metrics.Next(&f, &error));
  int values = 0;
  while (metrics.Next(&f, &error)) {
    ASSERT_EQ(f.size(), 6u);
    EXPECT_EQ(f[2], "trx_share");
    EXPECT_EQ(f[5], "2027-01-31");
    const double v = std::stod(std::string(f[3]));
    EXPECT_GE(v, 0);
    EXPECT_LE(v, 1);
    ++values;
    auto it = done.find(std::string(f[0]));
    const int64_t total =
        it == done.end() ? 0 : it->second[0] + it->second[1] + it->second[2] + it->second[3];
    if (total >= 10) {
      sum_full += v;
      ++n_full;
    } else if (total == 0) {
      sum_none += v;
      ++n_none;
    }
  }
  EXPECT_EQ(values, 4000);
  EXPECT_GT(sum_full / n_full - sum_none / n_none, 0.03);
}

}  // namespace
}  // namespace harmonia::datagen
