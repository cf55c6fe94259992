// WorkerCore without gRPC, on a real SQLite store holding the golden market
// and a fake clock: the refinement policy at submission, one cycle at a
// time, the country's pin, and who may do what.
#include "services/worker_core.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "auth/auth.h"
#include "common/date.h"
#include "common/file.h"
#include "common/sha256.h"
#include "common/text.h"
#include "tests/support/golden_store.h"

namespace harmonia::services {
namespace {

using store::RefinementStatus;
using ::testing::HasSubstr;

auth::Principal Field() { return {"anna.rep", {{auth::Role::kField, "DE"}}}; }
auth::Principal CountryOps() { return {"olaf.ops", {{auth::Role::kCountryOps, "DE"}}}; }

absl::Time Utc(int y, int m, int d, int hh) {
  return absl::FromCivil(absl::CivilHour(y, m, d, hh), absl::UTCTimeZone());
}

class WorkerCoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           absl::StrCat("worker_core_test_", getpid(), "_",
                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    url_ = "sqlite:" + (dir_ / "store.db").string();
    auto db = store::OpenStore(url_);
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE(testing::ImportGolden(**db, HARMONIA_SOURCE_DIR).ok());
    oncology_ =
        *ReadFileToString(std::string(HARMONIA_SOURCE_DIR) + "/rules/oncology.yaml", 1 << 20);
    for (int v : {3, 4}) {
      const std::string text =
          absl::StrReplaceAll(oncology_, {{"version: 3", absl::StrCat("version: ", v)}});
      ASSERT_TRUE((*db)->PublishRuleSet({"oncology", v, text, Sha256Hex(text), "ops", 1}).ok());
    }
    golden_country_ =
        *ReadFileToString(std::string(HARMONIA_SOURCE_DIR) + "/tests/golden/DE.yaml", 1 << 20);
  }
  void TearDown() override {
    core_.reset();
    std::filesystem::remove_all(dir_);
  }

  // The golden DE market with `schedule` (none when empty) and extra lines.
  void Start(const std::string& schedule, const std::string& extra = "") {
    std::string text = golden_country_;
    const size_t at = text.find("schedule:");
    text.erase(at, text.find('\n', at) + 1 - at);
    if (!schedule.empty()) text += "schedule: \"" + schedule + "\"\n";
    text += extra;
    std::ofstream(dir_ / "DE.yaml") << text;
    auto core = WorkerCore::Create(
        {.store_url = url_, .countries = {"DE"}, .countries_dir = dir_.string(), .clock = &clock_});
    ASSERT_TRUE(core.ok()) << core.status();
    core_ = std::move(*core);
  }

  std::vector<store::Store::Submitted> Submit(
      const std::vector<WorkerCore::RefinementInput>& items) {
    auto r = core_->SubmitRefinements(Field(), "DE", items);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : std::vector<store::Store::Submitted>();
  }

  std::filesystem::path dir_;
  std::string url_, oncology_, golden_country_;
  FakeClock clock_{Utc(2026, 11, 3, 12)};
  std::unique_ptr<WorkerCore> core_;
};

WorkerCore::RefinementInput Refine(const std::string& id, const std::string& customer,
                                   const std::string& segment = "conservative") {
  return {id, customer, "oncology", segment, 0, "new_information", ""};
}

TEST_F(WorkerCoreTest, RefinementsAreTakenOnlyInTheFirstWindowDaysOfACyclePeriod) {
  // Monthly cycles at 02:00 Berlin on the 1st; refinements in the first 5 days.
  Start("0 2 1 * *", "refinement: {window_days: 5, valid_cycles: 1, requires_approval: false}\n");
  auto open = Submit({Refine("w-1", "D001")});
  EXPECT_EQ(open[0].record.status, RefinementStatus::kAccepted) << open[0].record.status_reason;

  clock_.Set(Utc(2026, 11, 20, 12));
  auto closed = Submit({Refine("w-2", "D001")});
  EXPECT_EQ(closed[0].record.status, RefinementStatus::kRejected);
  EXPECT_THAT(closed[0].record.status_reason,
              HasSubstr("refinement window closed: DE takes refinements in the first 5 days of a "
                        "cycle period; this one started 2026-11-01 (schedule '0 2 1 * *', "
                        "Europe/Berlin)"));
  clock_.Set(Utc(2026, 11, 5, 22));  // 23:00 in Berlin: still the 5th day
  EXPECT_EQ(Submit({Refine("w-4", "D001")})[0].record.status, RefinementStatus::kAccepted);
  clock_.Set(Utc(2026, 11, 5, 23));  // midnight in Berlin: the 6th day
  EXPECT_EQ(Submit({Refine("w-5", "D001")})[0].record.status, RefinementStatus::kRejected);
  clock_.Set(Utc(2026, 12, 1, 1));  // 02:00 in Berlin: the new period has begun
  EXPECT_EQ(Submit({Refine("w-3", "D001")})[0].record.status, RefinementStatus::kAccepted);
}

TEST_F(WorkerCoreTest, EveryItemGetsItsOwnReasonAndTheQuotaCountsInOrder) {
  Start("");
  // 7 customers in scope, max_refinement_share 0.20: one customer per cycle.
  auto r =
      Submit({Refine("q-1", "D001"), Refine("q-2", "D002"), Refine("q-3", "D001", "pragmatist"),
              Refine("", "D004"), Refine("q-1", "D006"), Refine("q-5", "D005"),
              Refine("q-6", "NOPE"), Refine("q-7", "D003", "teleporter")});
  ASSERT_EQ(r.size(), 8u);
  EXPECT_EQ(r[0].record.status, RefinementStatus::kAccepted);
  EXPECT_THAT(r[1].record.status_reason, HasSubstr("over the refinement quota: 1 customers"));
  EXPECT_EQ(r[2].record.status, RefinementStatus::kAccepted) << "the same customer: no more quota";
  EXPECT_EQ(r[3].record.status_reason,
            "request_id: required (an idempotency key, unique per country and therapy area)");
  EXPECT_THAT(r[4].record.status_reason, HasSubstr("repeated in this request"));
  EXPECT_THAT(r[5].record.status_reason, HasSubstr("customer_id 'D005': "));
  EXPECT_EQ(r[6].record.status_reason, "customer_id 'NOPE': not a customer of DE");
  EXPECT_THAT(r[7].record.status_reason, HasSubstr("segment 'teleporter': unknown"));
  auto listed = core_->ListRefinements(CountryOps(), "DE", "oncology", {});
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(listed->size(), 6u) << "items without an id of their own are answered, not stored";
}

TEST_F(WorkerCoreTest, ADataDrivenMarketTakesNoRefinements) {
  std::string text = golden_country_;
  text =
      absl::StrReplaceAll(text, {{"pull_through: on}", "pull_through: on, process: data_driven}"}});
  golden_country_ = text;
  Start("");
  auto r = Submit({Refine("d-1", "D001")});
  EXPECT_EQ(r[0].record.status_reason,
            "country DE runs oncology data_driven: refinements are not accepted");
}

TEST_F(WorkerCoreTest, OneCycleOfAMarketAtATimeAndThePinIsHonoured) {
  Start("", "");
  absl::Status second;
  bool tried = false;
  auto first = core_->RunCycle(
      CountryOps(), "DE", "oncology", *ParseIsoDate("2026-11-01"),
      [&](const char*, int64_t, int64_t) {
        if (tried) return;
        tried = true;
        second = core_->RunCycle(CountryOps(), "DE", "oncology", std::nullopt, nullptr).status();
      });
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(second.code(), absl::StatusCode::kAborted);
  EXPECT_THAT(second.message(), HasSubstr("a cycle is already running"));
  EXPECT_EQ(first->cycle.rule_set_version, 4) << "latest";

  golden_country_ = absl::StrReplaceAll(
      golden_country_, {{"  oncology:\n", "  oncology:\n    rule_set_version: 3\n"}});
  Start("");
  auto pinned =
      core_->RunCycle(CountryOps(), "DE", "oncology", *ParseIsoDate("2026-11-01"), nullptr);
  ASSERT_TRUE(pinned.ok()) << pinned.status();
  EXPECT_EQ(pinned->cycle.rule_set_version, 3) << "the pin, not the latest";
}

// A reload that changes a label shows at once, though the cycle is cached.
TEST_F(WorkerCoreTest, AReloadedLabelReplacesTheCachedOne) {
  Start("");
  ASSERT_TRUE(
      core_->RunCycle(CountryOps(), "DE", "oncology", *ParseIsoDate("2026-11-01"), nullptr).ok());
  auto label_of = [&](const std::string& segment) {
    auto page = core_->QueryAssignments(Field(), {.country = "DE", .therapy_area = "oncology"});
    EXPECT_TRUE(page.ok()) << page.status();
    return page.ok() ? page->directives->Find(segment)->label : std::string();
  };
  EXPECT_EQ(label_of("early_adopter"), "Early adopter");
  std::string text = golden_country_;
  text.erase(text.find("schedule:"),
             text.find('\n', text.find("schedule:")) + 1 - text.find("schedule:"));
  std::ofstream(dir_ / "DE.yaml") << text << "    labels: {early_adopter: \"Früher Anwender\"}\n";
  ASSERT_TRUE(core_->ReloadCountries().ok());
  EXPECT_EQ(label_of("early_adopter"), "Früher Anwender");
}

TEST_F(WorkerCoreTest, RolesAreCheckedForTheRequestsCountryFirst) {
  Start("");
  const auth::Principal french{"pierre.rep", {{auth::Role::kField, "FR"}}};
  auto denied = core_->SubmitRefinements(french, "DE", {Refine("x", "D001")});
  EXPECT_EQ(denied.status().code(), absl::StatusCode::kPermissionDenied);
  auto not_served = core_->SubmitRefinements(french, "FR", {Refine("x", "F001")});
  EXPECT_EQ(not_served.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(core_->RunCycle(Field(), "DE", "oncology", std::nullopt, nullptr).status().code(),
            absl::StatusCode::kPermissionDenied);
  const auth::Principal viewer{"vera", {{auth::Role::kViewer, "DE"}}};
  EXPECT_EQ(core_->SubmitAnswers(viewer, "DE", {}).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(core_->ListCycles(viewer, "DE", "oncology").ok());
}

// Request ids are idempotency keys per (country, therapy area), and a
// customer id of another country answers as an unknown one: a collision of
// ids across DE and FR, either way round, returns nothing of the other
// country and loses nothing.
TEST_F(WorkerCoreTest, ARequestIdOfAnotherCountryIsAnotherRefinement) {
  {
    auto db = store::OpenStore(url_);
    ASSERT_TRUE(db.ok());
    std::vector<store::CustomerRow> more;  // FR's quota: floor(0.2 x 5) = 1
    for (int i = 2; i <= 5; ++i) {
      more.push_back({absl::StrCat("F00", i), "FR", "specialist", "oncology", "Dr. F"});
    }
    ASSERT_TRUE((*db)->UpsertCustomers(more).ok());
  }
  const std::string de_text = absl::StrReplaceAll(golden_country_, {{"schedule:", "# schedule:"}});
  std::ofstream(dir_ / "DE.yaml") << de_text;
  std::ofstream(dir_ / "FR.yaml") << absl::StrReplaceAll(
      de_text, {{"country: DE", "country: FR"}, {"Europe/Berlin", "Europe/Paris"}});
  auto core = WorkerCore::Create({.store_url = url_,
                                  .countries = {"DE", "FR"},
                                  .countries_dir = dir_.string(),
                                  .clock = &clock_});
  ASSERT_TRUE(core.ok()) << core.status();
  core_ = std::move(*core);
  const auth::Principal fr_rep{"fleur.rep", {{auth::Role::kField, "FR"}}};
  const auth::Principal fr_ops{"felix.ops", {{auth::Role::kCountryOps, "FR"}}};

  WorkerCore::RefinementInput fr_item = Refine("crm-7", "F001");
  fr_item.comment = "FR only: prefers Thursdays";
  auto fr = core_->SubmitRefinements(fr_rep, "FR", {fr_item});
  ASSERT_TRUE(fr.ok()) << fr.status();
  ASSERT_EQ((*fr)[0].record.status, RefinementStatus::kAccepted) << (*fr)[0].record.status_reason;

  // DE reuses the id: a new DE refinement, nothing of FR's comes back.
  auto de = Submit({Refine("crm-7", "D001")});
  ASSERT_EQ(de.size(), 1u);
  EXPECT_FALSE(de[0].duplicate);
  EXPECT_EQ(de[0].record.country, "DE");
  EXPECT_EQ(de[0].record.customer_id, "D001");
  EXPECT_EQ(de[0].record.comment, "");
  EXPECT_EQ(de[0].record.submitted_by, "anna.rep");
  // FR retries its own id: its own record, marked duplicate; nothing lost.
  auto fr_again = core_->SubmitRefinements(fr_rep, "FR", {fr_item});
  ASSERT_TRUE(fr_again.ok()) << fr_again.status();
  EXPECT_TRUE((*fr_again)[0].duplicate);
  EXPECT_EQ((*fr_again)[0].record.customer_id, "F001");
  EXPECT_EQ((*fr_again)[0].record.comment, "FR only: prefers Thursdays");
  auto fr_list = core_->ListRefinements(fr_ops, "FR", "oncology", {});
  ASSERT_TRUE(fr_list.ok());
  ASSERT_EQ(fr_list->size(), 1u);
  EXPECT_EQ((*fr_list)[0].customer_id, "F001");
  auto de_list = core_->ListRefinements(CountryOps(), "DE", "oncology", {});
  ASSERT_TRUE(de_list.ok());
  ASSERT_EQ(de_list->size(), 1u);
  EXPECT_EQ((*de_list)[0].customer_id, "D001");

  // Deciding DE's leaves FR's as it was; an id only FR has is unknown in DE.
  auto withdrawn =
      core_->DecideRefinement(Field(), "DE", "", "crm-7", RefinementStatus::kWithdrawn, "");
  ASSERT_TRUE(withdrawn.ok()) << withdrawn.status();
  EXPECT_EQ(withdrawn->customer_id, "D001");
  auto fr_only = core_->SubmitRefinements(fr_rep, "FR", {Refine("fr-only", "F002")});
  ASSERT_TRUE(fr_only.ok());
  auto probe = core_->DecideRefinement(CountryOps(), "DE", "", "fr-only",
                                       RefinementStatus::kRejected, "probe");
  auto unknown = core_->DecideRefinement(CountryOps(), "DE", "", "no-such",
                                         RefinementStatus::kRejected, "probe");
  EXPECT_EQ(probe.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(probe.status().code(), unknown.status().code());
  EXPECT_EQ(probe.status().message(), "refinement 'fr-only': not found in DE");
  EXPECT_EQ((*core_->ListRefinements(fr_ops, "FR", "oncology", {}))[0].status,
            RefinementStatus::kAccepted);

  // A FR customer id in DE reads exactly as an unknown one, everywhere.
  auto item = Submit({Refine("x-1", "F001"), Refine("x-2", "NOPE")});
  EXPECT_EQ(item[0].record.status_reason, "customer_id 'F001': not a customer of DE");
  EXPECT_EQ(item[1].record.status_reason, "customer_id 'NOPE': not a customer of DE");
  auto explain_fr = core_->Explain(Field(), "DE", "oncology", "F001", 0);
  auto explain_unknown = core_->Explain(Field(), "DE", "oncology", "NOPE", 0);
  EXPECT_EQ(explain_fr.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(explain_unknown.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(explain_fr.status().message(), "customer_id 'F001': not a customer of DE");
}

// Text that is not UTF-8 (or holds NUL) is refused per item, never stored, and
// never echoed as it came; the good items of the same request go through.
TEST_F(WorkerCoreTest, ItemsWithBadTextAreRefusedAloneAndNeverStored) {
  Start("");
  WorkerCore::RefinementInput latin1 = Refine("t-1", "D001");
  latin1.comment = "caf\xE9";
  WorkerCore::RefinementInput nul_id = Refine(std::string("t-\0"
                                                          "2",
                                                          4),
                                              "D002");
  WorkerCore::RefinementInput long_id = Refine(std::string(9000, 'r'), "D003");
  WorkerCore::RefinementInput long_comment = Refine("t-4", "D003");
  long_comment.comment = std::string(5000, 'c');
  auto r = Submit({latin1, Refine("t-ok", "D002"), nul_id, long_id, long_comment});
  ASSERT_EQ(r.size(), 5u);
  EXPECT_EQ(r[0].record.status, RefinementStatus::kRejected);
  EXPECT_EQ(r[0].record.status_reason,
            "comment: not UTF-8 text: byte 0xE9 at position 4 is not valid UTF-8; text must be "
            "UTF-8 without NUL bytes");
  EXPECT_EQ(r[0].record.comment, "caf\\xE9") << "returned escaped, never as it came";
  EXPECT_EQ(r[1].record.status, RefinementStatus::kAccepted) << r[1].record.status_reason;
  EXPECT_EQ(r[2].record.status_reason,
            "request_id: a NUL byte at position 3; text must be UTF-8 without NUL bytes");
  EXPECT_EQ(r[3].record.status_reason, "request_id: 9000 bytes; at most 200");
  EXPECT_LT(r[3].record.request_id.size(), 100u);
  EXPECT_EQ(r[4].record.status_reason, "comment: 5000 bytes; at most 4000");
  for (const auto& one : r) EXPECT_TRUE(IsText(one.record.status_reason));
  auto listed = core_->ListRefinements(CountryOps(), "DE", "oncology", {});
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u) << "only the good item is stored";
  EXPECT_EQ((*listed)[0].request_id, "t-ok");

  auto answers = core_->SubmitAnswers(
      Field(), "DE",
      {{"D001", "oncology", "q1", "4", ""}, {"D001", "oncology", "q1", "4\xFF", ""}});
  ASSERT_TRUE(answers.ok()) << answers.status();
  EXPECT_TRUE((*answers)[0].accepted) << (*answers)[0].reason;
  EXPECT_FALSE((*answers)[1].accepted);
  EXPECT_EQ((*answers)[1].reason,
            "value: not UTF-8 text: byte 0xFF at position 2 is not valid UTF-8; text must be "
            "UTF-8 without NUL bytes");
}

TEST_F(WorkerCoreTest, TerritoriesGiveMyCustomersPerTerritoryQuotasAndInboxFilters) {
  {
    auto db = store::OpenStore(url_);
    ASSERT_TRUE(db.ok());
    // North (anna): 5 in scope → quota floor(0.20 × 5) = 1. South (ben):
    // D001 counts against North (its first territory), so only D007 → 0.
    // D008 sits in no territory.
    ASSERT_TRUE((*db)
                    ->ReplaceTerritories({{"D001", "DE-North", "anna.rep"},
                                          {"D002", "DE-North", "anna.rep"},
                                          {"D003", "DE-North", "anna.rep"},
                                          {"D004", "DE-North", "anna.rep"},
                                          {"D006", "DE-North", "anna.rep"},
                                          {"D001", "DE-South", "ben.rep"},
                                          {"D007", "DE-South", "ben.rep"}})
                    .ok());
  }
  Start("", "refinement: {quota_scope: territory}\n");
  auto r = Submit({Refine("t-1", "D002"), Refine("t-2", "D003"), Refine("t-3", "D007"),
                   Refine("t-4", "D008"), Refine("t-5", "D002", "pragmatist")});
  ASSERT_EQ(r.size(), 5u);
  EXPECT_EQ(r[0].record.status, RefinementStatus::kAccepted) << r[0].record.status_reason;
  EXPECT_EQ(r[1].record.status_reason,
            "over the refinement quota of territory 'DE-North': 1 customers per cycle "
            "(max_refinement_share of its 5 in scope)");
  EXPECT_THAT(r[2].record.status_reason,
              HasSubstr("over the refinement quota of territory 'DE-South': 0 customers"));
  EXPECT_THAT(r[3].record.status_reason,
              HasSubstr("customer_id 'D008': in no territory; DE counts refinements per "
                        "territory (quota_scope territory)"));
  EXPECT_EQ(r[4].record.status, RefinementStatus::kAccepted) << "the same customer: same quota";

  // The rep sees her territory's quota; country ops every territory's.
  auto mine = core_->RefinementPolicyFor(Field(), "DE", "oncology");
  ASSERT_TRUE(mine.ok()) << mine.status();
  EXPECT_TRUE(mine->accepting);
  EXPECT_EQ(mine->policy.quota_scope, engine::QuotaScope::kTerritory);
  ASSERT_EQ(mine->quotas.size(), 1u);
  EXPECT_EQ(mine->quotas[0].territory, "DE-North");
  EXPECT_EQ(mine->quotas[0].customers, 5);
  EXPECT_EQ(mine->quotas[0].quota, 1);
  EXPECT_EQ(mine->quotas[0].used, 1);
  EXPECT_EQ(mine->segments.front().first, "early_adopter");
  EXPECT_THAT(mine->reasons, ::testing::Contains("new_information"));
  auto all = core_->RefinementPolicyFor(CountryOps(), "DE", "oncology");
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->quotas.size(), 2u);
  EXPECT_EQ(all->quotas[1].territory, "DE-South");
  EXPECT_EQ(all->quotas[1].customers, 1);

  // The inbox by territory, rep and reason.
  auto south = core_->ListRefinements(CountryOps(), "DE", "oncology", {.territory = "DE-South"});
  ASSERT_TRUE(south.ok());
  ASSERT_EQ(south->size(), 1u) << "D007's; D001 has none";
  EXPECT_EQ((*south)[0].customer_id, "D007");
  std::vector<std::vector<std::string>> territories;
  auto annas = core_->ListRefinements(CountryOps(), "DE", "oncology",
                                      {.statuses = {RefinementStatus::kAccepted},
                                       .submitted_by = "anna.rep",
                                       .reason = "new_information"},
                                      &territories);
  ASSERT_TRUE(annas.ok());
  ASSERT_EQ(annas->size(), 2u);
  EXPECT_EQ(territories[0], std::vector<std::string>{"DE-North"});
  EXPECT_TRUE(core_->ListRefinements(CountryOps(), "DE", "oncology", {.reason = "other"})->empty());

  // My customers, with who they are; search by id or name.
  ASSERT_TRUE(
      core_->RunCycle(CountryOps(), "DE", "oncology", *ParseIsoDate("2026-11-01"), nullptr).ok());
  auto page = core_->QueryAssignments(
      Field(),
      {.country = "DE", .therapy_area = "oncology", .mine = true, .include_customer = true});
  ASSERT_TRUE(page.ok()) << page.status();
  std::vector<std::string> ids;
  for (const auto& row : page->rows) ids.push_back(row.customer_id);
  EXPECT_THAT(ids, ::testing::ElementsAre("D001", "D002", "D003", "D004", "D006"));
  ASSERT_EQ(page->customers.size(), 5u);
  EXPECT_EQ(page->customers[0].name, "Dr. Anna Becker");
  EXPECT_THAT(page->customers[0].territories, ::testing::ElementsAre("DE-North", "DE-South"));
  auto found = core_->QueryAssignments(
      CountryOps(), {.country = "DE", .therapy_area = "oncology", .search = "müller"});
  ASSERT_TRUE(found.ok());
  ASSERT_EQ(found->rows.size(), 1u);
  EXPECT_EQ(found->rows[0].customer_id, "D002");
  found = core_->QueryAssignments(
      CountryOps(), {.country = "DE", .therapy_area = "oncology", .search = "MÜLLER"});
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(found->rows.size(), 1u) << "Latin-1 capitals fold too";
  found = core_->QueryAssignments(CountryOps(),
                                  {.country = "DE", .therapy_area = "oncology", .search = "d00"});
  EXPECT_EQ(found->rows.size(), 7u);
  auto south_page = core_->QueryAssignments(
      CountryOps(), {.country = "DE", .therapy_area = "oncology", .territory = "DE-South"});
  ASSERT_EQ(south_page->rows.size(), 2u);
  EXPECT_TRUE(
      core_
          ->QueryAssignments(
              Field(),
              {.country = "DE", .therapy_area = "oncology", .territory = "DE-South", .mine = true})
          ->rows.empty())
      << "not one of her territories";
}

TEST_F(WorkerCoreTest, TheCountryFileInForceAndAProposedEditValidatedInPlace) {
  Start("");
  auto file = core_->GetCountryFile(Field(), "DE");
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(file->config.country, "DE");
  EXPECT_THAT(file->text, HasSubstr("max_refinement_share: 0.20"));
  EXPECT_EQ(file->running_version.at("oncology"), 4) << "the latest held";

  auto fine = core_->ValidateCountryFile(CountryOps(), "DE", file->text);
  ASSERT_TRUE(fine.ok()) << fine.status();
  EXPECT_THAT(*fine, ::testing::IsEmpty());
  const std::string edited = absl::StrReplaceAll(
      file->text, {{"max_refinement_share: 0.20", "max_refinement_share: 0.9"}});
  auto bad = core_->ValidateCountryFile(CountryOps(), "DE", edited);
  ASSERT_TRUE(bad.ok());
  ASSERT_EQ(bad->size(), 1u);
  EXPECT_EQ(FormatIssue((*bad)[0]),
            "DE.yaml:8:59: error: option 'max_refinement_share': '0.9' is not on the menu; "
            "allowed values: 0.10, 0.05, 0.20");
  auto other = core_->ValidateCountryFile(
      CountryOps(), "DE", absl::StrReplaceAll(file->text, {{"country: DE", "country: FR"}}));
  ASSERT_TRUE(other.ok());
  ASSERT_EQ(other->size(), 1u);
  EXPECT_THAT((*other)[0].message, HasSubstr("this is DE's file; it says FR"));
  EXPECT_EQ(core_->ValidateCountryFile(Field(), "DE", file->text).status().code(),
            absl::StatusCode::kPermissionDenied);
}

}  // namespace
}  // namespace harmonia::services
