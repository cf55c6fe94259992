#include "common/yaml_tree.h"

#include <gtest/gtest.h>

#include <string>

namespace harmonia {
namespace {

std::string Errors(const IssueList& issues) {
  std::string out;
  for (const Issue& i : issues.issues()) out += FormatIssue(i) + "\n";
  return out;
}

TEST(YamlTree, PositionsAreOneBased) {
  IssueList issues("f.yaml");
  auto root = LoadYaml("a: 1\nb:\n  - x\n  - {k: \"v\"}\n", &issues);
  ASSERT_TRUE(root.has_value()) << Errors(issues);
  ASSERT_TRUE(root->is_map());
  const YamlNode* b = root->Find("b");
  ASSERT_NE(b, nullptr);
  ASSERT_EQ(b->items.size(), 2u);
  EXPECT_EQ(b->items[0].line, 3);
  EXPECT_EQ(b->items[0].column, 5);
  const YamlNode* k = b->items[1].Find("k");
  ASSERT_NE(k, nullptr);
  EXPECT_TRUE(k->quoted);
  EXPECT_EQ(k->scalar, "v");
  EXPECT_FALSE(root->Find("a")->quoted);
}

TEST(YamlTree, EmptyNullAndCommaDocumentsAreErrorsNotHangs) {
  for (const char* text : {"", ",", "~", "null", "# only a comment\n", "---\n"}) {
    IssueList issues("f.yaml");
    EXPECT_FALSE(LoadYaml(text, &issues).has_value()) << text;
    EXPECT_TRUE(issues.has_errors()) << text;
  }
}

TEST(YamlTree, DeepNestingIsRefusedBeforeYamlCppRecurses) {
  for (const std::string& text : {std::string(100000, '['), "a: " + std::string(50, '{'),
                                  [] {
                                    std::string s;
                                    for (int i = 0; i < 300; ++i) s += std::string(i, ' ') + "k:\n";
                                    return s;
                                  }(),
                                  [] {
                                    std::string s;
                                    for (int i = 0; i < 200; ++i) s += "- ";
                                    return s + "x\n";
                                  }()}) {
    IssueList issues("f.yaml");
    EXPECT_FALSE(LoadYaml(text, &issues).has_value()) << text.substr(0, 40);
    EXPECT_TRUE(issues.has_errors());
  }
}

TEST(YamlTree, AliasBombIsCapped) {
  std::string text = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
  char prev = 'a';
  for (char c = 'b'; c <= 'k'; ++c) {
    text += std::string(1, c) + ": &" + c + " [*" + prev + ", *" + prev + ", *" + prev + ", *" +
            prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev +
            ", *" + prev + "]\n";
    prev = c;
  }
  IssueList issues("f.yaml");
  EXPECT_FALSE(LoadYaml(text, &issues).has_value());
  EXPECT_NE(Errors(issues).find("more than"), std::string::npos) << Errors(issues);
}

TEST(YamlTree, SyntaxErrorHasAPosition) {
  IssueList issues("f.yaml");
  EXPECT_FALSE(LoadYaml("a: [1, 2\nb: 3\n", &issues).has_value());
  ASSERT_EQ(issues.issues().size(), 1u);
  EXPECT_GT(issues.issues()[0].line, 0);
}

TEST(YamlTree, OversizedInputIsRefused) {
  IssueList issues("f.yaml");
  YamlLimits limits;
  limits.max_bytes = 10;
  EXPECT_FALSE(LoadYaml("a: 12345678901", &issues, limits).has_value());
  EXPECT_EQ(Errors(issues), "f.yaml: error: file is 14 bytes; the limit is 10\n");
}

TEST(YamlTree, ASecondDocumentIsAnError) {
  IssueList issues("f.yaml");
  EXPECT_FALSE(LoadYaml("a: 1\n---\nb: [1\n", &issues).has_value());
  EXPECT_EQ(Errors(issues),
            "f.yaml:2:1: error: a second YAML document: a Harmonia file holds exactly one\n");
  IssueList fine("g.yaml");
  EXPECT_TRUE(LoadYaml("# header\n---\na: 1\n...\n", &fine).has_value()) << Errors(fine);
}

TEST(YamlTree, ApostrophesAndBracketsInsidePlainTextDoNotFoolTheScreen) {
  std::string text = "a: rock 'n roll\n";
  for (int i = 0; i < 40; ++i)
    text += "m" + std::to_string(i) + ": see [" + std::to_string(i) + "\n";
  IssueList issues("f.yaml");
  EXPECT_TRUE(LoadYaml(text, &issues).has_value()) << Errors(issues);
  // ... and a real deep nesting after such a line is still refused.
  IssueList deep("g.yaml");
  EXPECT_FALSE(LoadYaml("a: rock 'n roll\nb: " + std::string(100, '[') + "\n", &deep).has_value());
  EXPECT_TRUE(deep.has_errors());
}

TEST(YamlTree, LongAliasedTextIsCapped) {
  std::string text =
      "a: &a \"" + std::string(1 << 20, 'x') + "\"\nb: [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n";
  text += "c: [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n";
  IssueList issues("f.yaml");
  EXPECT_FALSE(LoadYaml(text, &issues).has_value());
  EXPECT_NE(Errors(issues).find("bytes of text"), std::string::npos) << Errors(issues);
}

}  // namespace
}  // namespace harmonia
