#include "exchange/exchange.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

namespace harmonia::exchange {
namespace {

std::string Render(const std::vector<RowProblem>& problems) {
  std::string out;
  for (const RowProblem& p : problems) out += FormatProblem(p) + "\n";
  return out;
}

class ExchangeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/harmonia-exchange-XXXXXX";
    dir_ = mkdtemp(tmpl);
    const char* rules = R"yaml(
therapy_area: t
version: 1
applies_to: [x]
objective_behavior: m
questionnaire: [{id: q, type: likert, scale: [1, 5]}]
metrics: [{id: m, type: number, min: 0, max: 1}]
segments: [{id: a}]
assignment: {default: a}
tiers: {metric: m, bands: {only: [{tier: T}]}}
targets: {a: {T: {}}}
)yaml";
    CompileResult r = engine::CompileRuleSet(rules, "t.yaml");
    ASSERT_NE(r.rule_set, nullptr);
    rules_ = r.rule_set;
    country_.country = "DE";
    country_.data_sources = {engine::Source::kRep};
    country_.max_input_age_days = 365;
  }
  void TearDown() override { std::system(("rm -rf '" + dir_ + "'").c_str()); }

  std::string Write(const std::string& name, const std::string& text) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path, std::ios::binary) << text;
    return path;
  }

  using CompileResult = engine::CompileResult;
  std::string dir_;
  std::shared_ptr<const engine::RuleSet> rules_;
  engine::CountryConfig country_;
};

TEST_F(ExchangeTest, CustomersInScopeAreSortedAndTheOthersExplained) {
  std::vector<RowProblem> problems;
  auto u = ReadCustomers(Write("customers.csv",
                               "customer_id,country,customer_type,specialty,name\n"
                               "C2,DE,x,s,\"Doe, J\"\nC1,DE,x,s,A\nF1,FR,x,s,B\nN1,DE,nurse,s,C\n"
                               "C1,DE,x,s,dup\n"),
                         "DE", {"x"}, &problems);
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->ids, (std::vector<std::string>{"C1", "C2"}));
  EXPECT_EQ(u->out_of_scope.at("F1"), "country is FR");
  EXPECT_EQ(u->out_of_scope.at("N1"),
            "customer type 'nurse' is not in the rule set's applies_to (x)");
  EXPECT_EQ(Render(problems), "customers.csv:6:1: customer_id: duplicate 'C1' (first on line 3)\n");
}

TEST_F(ExchangeTest, ColumnsAreFoundByNameAndAMissingOneStopsTheRead) {
  std::vector<RowProblem> problems;
  auto u = ReadCustomers(Write("c.csv",
                               "name,customer_type,extra,country,customer_id,specialty\n"
                               "A,x,1,DE,C1,s\n"),
                         "DE", {"x"}, &problems);
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->ids, (std::vector<std::string>{"C1"}));
  auto bad =
      ReadCustomers(Write("d.csv", "customer_id,country,name\nC1,DE,A\n"), "DE", {"x"}, &problems);
  EXPECT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(),
            dir_ +
                "/d.csv:1: missing column 'customer_type'; expected the header "
                "customer_id,country,customer_type,specialty,name");
  auto empty = ReadCustomers(Write("e.csv", ""), "DE", {"x"}, &problems);
  EXPECT_NE(empty.status().message().find("empty file"), std::string::npos);
  auto broken = ReadCustomers(Write("f.csv", "customer_id,\"country\nC1"), "DE", {"x"}, &problems);
  EXPECT_NE(broken.status().message().find("header: unterminated quoted field"), std::string::npos)
      << broken.status();
}

TEST_F(ExchangeTest, LinesAndColumnsCountEveryKindOfLineEnd) {
  std::vector<RowProblem> problems;
  auto u = ReadCustomers(
      Write("customers.csv", "customer_id,country,customer_type,specialty,name\nC1,DE,x,s,A\n"),
      "DE", {"x"}, &problems);
  ASSERT_TRUE(u.ok());
  engine::InputSelector selector(*rules_, country_, 20000, u->ids.size());
  InputCounts counts;
  // CR-only line ends; a quoted field spanning two lines; then a bad value.
  const std::string path = Write("answers.csv",
                                 "customer_id,therapy_area,question_id,value,source,as_of\r"
                                 "C1,t,q,9,rep,2024-10-01\r"
                                 "\"C\n1\",t,q,2,rep,2024-10-01\r"
                                 "C1,t,q,\"x\ny\",rep,2024-10-01\r"
                                 "C1,t,q,3,rep,2024-10-01\r");
  ASSERT_TRUE(ReadInputs(path, InputKind::kAnswers, *rules_, country_, *u, 20000, 1, &selector,
                         &counts, &problems)
                  .ok());
  EXPECT_EQ(Render(problems),
            "answers.csv:2:8: question 'q': 9 is outside scale [1, 5] (dropped)\n"
            "answers.csv:3:2: customer_id: unknown customer 'C\n1' (not in customers.csv)\n"
            "answers.csv:5:9: question 'q': 'x\ny' is not a whole number (dropped)\n");
  EXPECT_EQ(selector.batch().columns[0][0], 3);
}

// Text is UTF-8 without NUL bytes: a row with anything else is rejected at
// its line, column and field, never read on; the good rows are kept.
TEST_F(ExchangeTest, TextThatIsNotUtf8OrHoldsNulIsRejectedWithItsPlace) {
  std::vector<RowProblem> problems;
  const std::string body = std::string("customer_id,country,customer_type,specialty,name\n") +
                           "C1,DE,x,s,Ana M\xC3\xBCller\n" +  // valid: ü
                           "C2,DE,x,s,Bernd M\xFCller\n" +    // Latin-1 ü
                           std::string(
                               "C\0"
                               "3,DE,x,s,C\n",
                               13) +                             // NUL in the id
                           "C4,DE,x,s,\"quoted \xE9t\xE9\"\n" +  // inside a quoted field
                           "C5,DE,x,s,E\n";
  auto u = ReadCustomers(Write("customers.csv", body), "DE", {"x"}, &problems);
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->ids, (std::vector<std::string>{"C1", "C5"}));
  EXPECT_EQ(u->rejected, 3);
  EXPECT_EQ(Render(problems),
            "customers.csv:3:18: name: not UTF-8 text: byte 0xFC at position 8 is not valid UTF-8; "
            "text must be UTF-8 without NUL bytes\n"
            "customers.csv:4:2: customer_id: a NUL byte at position 2; text must be UTF-8 without "
            "NUL bytes\n"
            "customers.csv:5:19: name: not UTF-8 text: byte 0xE9 at position 8 is not valid UTF-8; "
            "text must be UTF-8 without NUL bytes\n");
}

TEST_F(ExchangeTest, AnUnterminatedQuoteNamesTheLinesItSwallows) {
  std::vector<RowProblem> problems;
  auto u = ReadCustomers(Write("customers.csv",
                               "customer_id,country,customer_type,specialty,name\nC1,DE,x,s,A\n"
                               "C2,DE,x,s,\"oops\nC3,DE,x,s,B\nC4,DE,x,s,C\n"),
                         "DE", {"x"}, &problems);
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->ids, (std::vector<std::string>{"C1"}));
  EXPECT_EQ(Render(problems),
            "customers.csv:3:11: unterminated quoted field (lines 3-5 are skipped: close the "
            "quote)\n");
}

TEST_F(ExchangeTest, ParallelReadingGivesTheSameSelectionAndProblems) {
  std::string customers = "customer_id,country,customer_type,specialty,name\n";
  std::string answers = "customer_id,therapy_area,question_id,value,source,as_of\n";
  for (int i = 0; i < 3000; ++i) {
    customers += "C" + std::to_string(i) + ",DE,x,s,n\n";
    for (int k = 0; k < 4; ++k) {
      answers += "C" + std::to_string(i) + ",t,q," + std::to_string((i + k) % 7) +
                 ",rep,2024-10-0" + std::to_string(1 + (k * i) % 3) + "\n";
    }
  }
  std::vector<RowProblem> p1, p4;
  auto u = ReadCustomers(Write("customers.csv", customers), "DE", {"x"}, &p1);
  ASSERT_TRUE(u.ok());
  const std::string path = Write("answers.csv", answers);
  engine::InputSelector s1(*rules_, country_, 20000, u->ids.size());
  engine::InputSelector s4(*rules_, country_, 20000, u->ids.size());
  InputCounts c1, c4;
  ASSERT_TRUE(
      ReadInputs(path, InputKind::kAnswers, *rules_, country_, *u, 20000, 1, &s1, &c1, &p1).ok());
  ASSERT_TRUE(
      ReadInputs(path, InputKind::kAnswers, *rules_, country_, *u, 20000, 4, &s4, &c4, &p4).ok());
  EXPECT_EQ(Render(p1), Render(p4));
  EXPECT_EQ(c1.rejected, c4.rejected);
  for (size_t i = 0; i < u->ids.size(); ++i) {
    const double a = s1.batch().columns[0][i], b = s4.batch().columns[0][i];
    ASSERT_TRUE(a == b || (a != a && b != b)) << i;
  }
}

}  // namespace
}  // namespace harmonia::exchange
