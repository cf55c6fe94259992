// The quality figures, the report built from a real SQLite store, and the
// renderers. End to end (gen → import → cycles → report → Chromium):
// tests/python/report_browser_test.py.
#include "report/report.h"

#include <unistd.h>

#include <cmath>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "quality/quality.h"
#include "report/render.h"
#include "store/store.h"

namespace harmonia::report {
namespace {

namespace v1 = harmonia::v1;
// The quality figures a report reads (quality/quality.h).
using quality::ComputeChurn;
using quality::kFiguresVersion;
using quality::PreviousSegment;
using quality::QualityFromJson;
using quality::QualityToJson;
using ::testing::HasSubstr;
using ::testing::Not;

TEST(ComputeChurn, CountsStayedMovedEnteredAndLeft) {
  // Both sides bytewise by customer id.
  const std::vector<quality::PreviousSegment> before = {
      {"A", "x"}, {"B", "x"}, {"C", "y"}, {"E", ""}};
  const std::vector<quality::PreviousSegment> after = {
      {"A", "x"}, {"B", "y"}, {"D", "y"}, {"E", "x"}};
  const v1::Churn c = ComputeChurn(before, after, 7);
  EXPECT_EQ(c.previous_cycle_id(), 7);
  EXPECT_EQ(c.stayed(), 1);
  EXPECT_EQ(c.moved(), 2);  // B x→y, E none→x
  EXPECT_EQ(c.entered(), 1);
  EXPECT_EQ(c.left(), 1);
  EXPECT_DOUBLE_EQ(c.moved_share(), 2.0 / 3);
  std::vector<std::string> cells;
  for (const v1::ChurnCell& cell : c.cells()) {
    cells.push_back(
        absl::StrCat(cell.from_segment(), ">", cell.to_segment(), "=", cell.customers()));
  }
  EXPECT_THAT(cells, ::testing::ElementsAre(">x=1", "(new)>y=1", "x>x=1", "x>y=1", "y>(left)=1"));
}

TEST(ComputeChurn, NoPreviousCycleNoCells) {
  const v1::Churn c = quality::ComputeChurn({}, {{"A", "x"}}, 0);
  EXPECT_EQ(c.cells_size(), 0);
  EXPECT_EQ(c.entered(), 0);
}

TEST(QualityJson, RoundTripsAndRefusesOtherShapes) {
  v1::CycleQuality q;
  q.set_figures_version(quality::kFiguresVersion);
  q.set_customers(3);
  q.set_objective_metric("trx_share");
  q.mutable_separation()->set_eta_squared(0.25);
  q.add_warnings("w");
  const std::string json = quality::QualityToJson(q);
  EXPECT_THAT(json, HasSubstr("\"objective_metric\":\"trx_share\""));
  absl::StatusOr<v1::CycleQuality> back = quality::QualityFromJson(json);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->customers(), 3);
  EXPECT_TRUE(back->separation().has_eta_squared());
  // Newer fields are ignored; the shape before figures_version ("segments" an object) is refused.
  EXPECT_TRUE(
      quality::QualityFromJson(R"({"figures_version":1,"customers":"2","from_the_future":1})")
          .ok());
  EXPECT_FALSE(quality::QualityFromJson(R"({"customers":2,"segments":{"a":2}})").ok());
  EXPECT_FALSE(quality::QualityFromJson("not json").ok());
}

v1::MarketReport Market(const std::string& country, double share_a) {
  v1::MarketReport m;
  m.set_country(country);
  v1::CycleQuality* q = m.mutable_quality();
  q->set_figures_version(quality::kFiguresVersion);
  q->set_customers(1000);
  v1::SegmentQuality* a = q->add_segments();
  a->set_segment("a");
  a->set_share(share_a);
  v1::SegmentQuality* b = q->add_segments();
  b->set_segment("b");
  b->set_share(1 - share_a);
  return m;
}

v1::Report TwoSegmentReport() {
  v1::Report r;
  r.set_threshold_sd(2);
  r.add_segments()->set_id("a");
  r.add_segments()->set_id("b");
  return r;
}

TEST(FindDeviations, FlagsAShareFarFromTheOthers) {
  v1::Report r = TwoSegmentReport();
  for (auto [cc, share] :
       {std::pair{"AT", 0.30}, {"DE", 0.32}, {"ES", 0.28}, {"FR", 0.31}, {"IT", 0.60}}) {
    *r.add_markets() = Market(cc, share);
  }
  FindDeviations(&r);
  ASSERT_EQ(r.deviations_size(), 2);  // IT's a share high, so its b share low
  EXPECT_EQ(r.deviations(0).country(), "IT");
  EXPECT_EQ(r.deviations(0).segment(), "a");
  EXPECT_NEAR(r.deviations(0).others_mean(), 0.3025, 1e-12);
  // Others: 0.30, 0.32, 0.28, 0.31 → sample sd 0.0170782…
  EXPECT_NEAR(r.deviations(0).others_sd(), 0.017078251276599, 1e-12);
  EXPECT_GT(r.deviations(0).z(), 2);
  EXPECT_EQ(r.deviations(1).segment(), "b");
  EXPECT_LT(r.deviations(1).z(), -2);
  EXPECT_THAT(r.warnings(0), HasSubstr("IT: segment a holds 60.0% of customers"));
}

TEST(FindDeviations, NeedsThreeOtherMarketsAndAMeaningfulGap) {
  v1::Report few = TwoSegmentReport();
  for (auto [cc, share] : {std::pair{"DE", 0.30}, {"ES", 0.30}, {"FR", 0.90}}) {
    *few.add_markets() = Market(cc, share);
  }
  FindDeviations(&few);
  EXPECT_EQ(few.deviations_size(), 0);
  // Identical others: a 0.5 point difference is within the SD floor (z = 1).
  v1::Report same = TwoSegmentReport();
  for (auto [cc, share] : {std::pair{"AT", 0.30}, {"DE", 0.30}, {"ES", 0.30}, {"FR", 0.305}}) {
    *same.add_markets() = Market(cc, share);
  }
  FindDeviations(&same);
  EXPECT_EQ(same.deviations_size(), 0);
}

class ReportFromStore : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           absl::StrCat("harmonia-report-test-", getpid(), "-",
                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    auto s = store::OpenStore("sqlite:" + (dir_ / "h.db").string());
    ASSERT_TRUE(s.ok()) << s.status();
    store_ = std::move(*s);
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  void Publish(int64_t version, const std::string& assignment = R"(assignment:
  rules:
    - {id: r1, when: {q1: ">= 3"}, segment: a}
  default: b
)") {
    const std::string text = absl::StrCat(R"(therapy_area: onc
version: )",
                                          version, R"(
applies_to: [specialist]
objective_behavior: share
min_differentiation: 0.06
questionnaire:
  - {id: q1, text: "Q", type: likert, scale: [1, 5], required: true}
metrics:
  - {id: share, type: number, min: 0, max: 1}
segments:
  - {id: a, name: Alpha, message: "m", channels: [remote]}
  - {id: b, name: Beta, message: "m", channels: [remote]}
)",
                                          assignment, R"(unprofiled:
  default: b
tiers:
  metric: share
  bands:
    standard: [{tier: A, min: 0.5}, {tier: B}]
targets:
  a: {A: {calls: 1}, B: {}}
  b: {A: {}, B: {}}
refinement_reasons: [new_information]
country_options:
  tier_bands: [standard]
)");
    ASSERT_TRUE(store_->PublishRuleSet({"onc", version, text, "sum", "ops", 1}).ok());
  }
  int64_t Commit(const std::string& country, int64_t version, const v1::CycleQuality& q,
                 const std::string& config = "") {
    store::CycleRecord c{0,      country,       "onc", 20000, version, "tier_bands=standard",
                         config, q.customers(), "s",   100};
    c.quality = quality::QualityToJson(q);
    auto id = store_->CommitCycle(c, {}, {});
    EXPECT_TRUE(id.ok()) << id.status();
    return id.ok() ? *id : 0;
  }
  std::filesystem::path dir_;
  std::unique_ptr<store::Store> store_;
};

TEST_F(ReportFromStore, LatestCycleOfEveryMarketWithHistoryAndWarnings) {
  Publish(1);
  v1::CycleQuality q = Market("", 0.4).quality();
  q.set_customers(10);
  q.add_warnings("objective behaviour share: eta-squared 0.01 is below min_differentiation 0.06");
  Commit("DE", 1, q,
         "country: DE\ntimezone: Europe/Berlin\ndata_sources: [rep]\ntherapy_areas:\n  onc:\n"
         "    labels: {a: \"Alpha-DE\"}\n");
  Publish(2);
  q.clear_warnings();
  q.mutable_separation()->set_eta_squared(0.3);
  const int64_t de2 = Commit("DE", 2, q);
  Commit("FR", 1, q);
  absl::StatusOr<v1::Report> r = BuildReport(*store_, {.therapy_area = "onc", .now_unix = 5});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->schema(), kReportSchema);
  EXPECT_EQ(r->rule_set_version(), 2);
  EXPECT_EQ(r->objective_metric(), "share");
  ASSERT_EQ(r->segments_size(), 2);
  EXPECT_EQ(r->segments(0).name(), "Alpha");
  ASSERT_EQ(r->markets_size(), 2);
  EXPECT_EQ(r->markets(0).country(), "DE");
  EXPECT_EQ(r->markets(0).cycle_id(), de2);
  ASSERT_EQ(r->markets(0).history_size(), 2);
  EXPECT_FALSE(r->markets(0).history(0).has_eta_squared());
  EXPECT_DOUBLE_EQ(r->markets(0).history(1).eta_squared(), 0.3);
  EXPECT_THAT(r->warnings(), ::testing::Contains("FR runs onc v1; v2 is the latest"));

  // One market, an earlier cycle: its labels and its own warning.
  absl::StatusOr<v1::Report> one =
      BuildReport(*store_, {.therapy_area = "onc", .countries = {"DE"}, .cycle_id = de2 - 1});
  ASSERT_TRUE(one.ok()) << one.status();
  ASSERT_EQ(one->markets_size(), 1);
  EXPECT_EQ(one->markets(0).labels().at("a"), "Alpha-DE");
  EXPECT_EQ(one->markets(0).history_size(), 1);
  EXPECT_THAT(one->warnings(0), HasSubstr("DE: objective behaviour share: eta-squared 0.01"));

  EXPECT_EQ(BuildReport(*store_, {.therapy_area = "onc", .countries = {"SE"}}).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(BuildReport(*store_, {.therapy_area = "none"}).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(BuildReport(*store_, {.therapy_area = "onc", .cycle_id = 1}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(BuildReport(*store_, {.therapy_area = "onc", .history = 0}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(ReportFromStore, ATypingToolsProvenanceIsShownInEveryOutput) {
  Publish(1);
  absl::StatusOr<v1::Report> r = BuildReport(*store_, {.therapy_area = "onc"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->has_typing_tool()) << "a decision table has no provenance";
  Publish(2, R"(assignment:
  method: typing_tool
  provenance: {study: "Wave <2026>", respondents: 1500, accuracy: 0.912, folds: 10, date: 2026-10-15}
  functions:
    a: {intercept: 0, weights: {q1: 1}}
    b: {intercept: 3, weights: {}}
)");
  r = BuildReport(*store_, {.therapy_area = "onc"});
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE(r->has_typing_tool());
  EXPECT_EQ(r->typing_tool().respondents(), 1500);
  EXPECT_EQ(r->typing_tool().date(), "2026-10-15");
  const std::string line =
      "Typing tool from Wave <2026>: 1500 respondents, fielded 2026-10-15; accuracy 91.2% "
      "(10-fold cross-validated)";
  EXPECT_THAT(RenderText(*r), HasSubstr(line));
  EXPECT_THAT(RenderHtml(*r), HasSubstr("<p class=\"meta\" id=\"typing-tool\">Typing tool from "
                                        "Wave &lt;2026&gt;: 1500 respondents"));
}

TEST_F(ReportFromStore, FiguresFromBeforeTheReportsAreAWarningNotAFailure) {
  Publish(1);
  store::CycleRecord c{0, "DE", "onc", 20000, 1, "", "", 2, "s", 100};
  c.quality = R"({"customers":2,"segments":{"a":2}})";  // the shape before figures_version
  ASSERT_TRUE(store_->CommitCycle(c, {}, {}).ok());
  absl::StatusOr<v1::Report> r = BuildReport(*store_, {.therapy_area = "onc"});
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->markets_size(), 1);
  EXPECT_EQ(r->markets(0).quality().customers(), 0);
  EXPECT_THAT(r->warnings(0), HasSubstr("has no quality figures"));
  EXPECT_THAT(RenderText(*r), HasSubstr("DE: cycle 1"));
  EXPECT_THAT(RenderHtml(*r), HasSubstr("has no quality figures"));
}

TEST(RenderHtml, SelfContainedChartsWithTheirValuesAndEscapedText) {
  v1::Report r = TwoSegmentReport();
  r.set_therapy_area("onc<script>");
  r.add_warnings("DE: <b>bad</b> & worse");
  v1::MarketReport m = Market("DE", 0.25);
  (*m.mutable_labels())["a"] = "Früher \"A\"";
  v1::Distribution* d = m.mutable_quality()->mutable_segments(0)->mutable_objective();
  d->set_n(4);
  d->set_min(0.1);
  d->set_q1(0.2);
  d->set_median(0.3);
  d->set_q3(0.4);
  d->set_max(0.5);
  d->set_mean(0.3);
  v1::Churn* churn = m.mutable_quality()->mutable_churn();
  churn->set_previous_cycle_id(1);
  v1::ChurnCell* cell = churn->add_cells();
  cell->set_from_segment("a");
  cell->set_to_segment("b");
  cell->set_customers(17);
  *r.add_markets() = m;
  const std::string html = RenderHtml(r);
  EXPECT_THAT(html, HasSubstr("<!DOCTYPE html>"));
  EXPECT_THAT(html, HasSubstr("class=\"chart-share\""));
  EXPECT_THAT(html, HasSubstr("data-country=\"DE\" data-segment=\"a\" data-share=\"0.25\""));
  EXPECT_THAT(html, HasSubstr("class=\"chart-box\""));
  EXPECT_THAT(html, HasSubstr("data-median=\"0.29999999999999999\""));
  EXPECT_THAT(html, HasSubstr("class=\"chart-churn\""));
  EXPECT_THAT(html, HasSubstr("data-from=\"a\" data-to=\"b\" data-customers=\"17\""));
  EXPECT_THAT(html, HasSubstr("<li class=\"warning\">DE: &lt;b&gt;bad&lt;/b&gt; &amp; worse</li>"));
  EXPECT_THAT(html, HasSubstr("Früher &quot;A&quot;"));
  EXPECT_THAT(html, Not(HasSubstr("<script")));
  EXPECT_THAT(html, Not(HasSubstr("src=")));
  EXPECT_THAT(html, Not(HasSubstr("href=\"http")));
}

TEST(RenderText, TablesWithLabelsAndWarnings) {
  v1::Report r = TwoSegmentReport();
  r.set_therapy_area("onc");
  r.add_warnings("DE: something");
  v1::MarketReport m = Market("DE", 0.25);
  (*m.mutable_labels())["a"] = "Früher Anwender";
  *r.add_markets() = m;
  const std::string text = RenderText(r);
  EXPECT_THAT(text, HasSubstr("  ! DE: something"));
  EXPECT_THAT(text, HasSubstr("a (Früher Anwender)"));
  EXPECT_THAT(text, HasSubstr("25.0%"));
  EXPECT_THAT(RenderJson(r), HasSubstr("\"schema\": \"\""));  // every field printed
}

}  // namespace
}  // namespace harmonia::report
