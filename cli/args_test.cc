#include "cli/args.h"

#include <gtest/gtest.h>

namespace harmonia::cli {
namespace {

const std::vector<FlagSpec> kSpecs = {
    {"rules", "FILE", "the rule set", true},
    {"threads", "N", "threads"},
    {"quiet", "", "less output"},
};

absl::StatusOr<Args> Parse(std::vector<const char*> argv) {
  argv.insert(argv.begin(), "harmonia");
  return ParseArgs("test", kSpecs, static_cast<int>(argv.size()), const_cast<char**>(argv.data()),
                   1);
}

TEST(Args, BothFormsBooleansAndPositionals) {
  auto a = Parse({"--rules=r.yaml", "--threads", "4", "--quiet", "pos1", "--", "--pos2"});
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->Get("rules"), "r.yaml");
  EXPECT_EQ(a->Get("threads"), "4");
  EXPECT_TRUE(a->Has("quiet"));
  EXPECT_EQ(a->positional, (std::vector<std::string>{"pos1", "--pos2"}));
  EXPECT_EQ(*a->GetInt("threads", 1, 1, 8), 4);
  EXPECT_FALSE(a->GetInt("threads", 1, 5, 8).ok());
}

TEST(Args, ErrorsNameTheFlag) {
  EXPECT_EQ(Parse({"--rules", "r", "--colour", "red"}).status().message(),
            "harmonia test: unknown flag --colour; known flags: --rules, --threads, --quiet");
  EXPECT_EQ(Parse({"--quiet"}).status().message(),
            "harmonia test: missing --rules FILE (the rule set)");
  EXPECT_EQ(Parse({"--rules"}).status().message(), "harmonia test: --rules needs a value (FILE)");
  EXPECT_EQ(Parse({"--rules", "r", "--quiet=yes"}).status().message(),
            "harmonia test: --quiet takes no value");
}

}  // namespace
}  // namespace harmonia::cli
