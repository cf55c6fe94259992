#include "auth/auth.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "common/sha256.h"

namespace harmonia::auth {
namespace {

std::vector<std::string> Messages(const std::vector<Issue>& issues) {
  std::vector<std::string> out;
  for (const Issue& i : issues) out.push_back(FormatIssue(i));
  return out;
}

TEST(Sha256Hex, MatchesTheStandardTestVectors) {
  // FIPS 180-2 examples.
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(ParseGrant, KnowsEveryRoleAndRefusesMalformedOnes) {
  EXPECT_EQ(ParseGrant("global_ops"), (Grant{Role::kGlobalOps, ""}));
  EXPECT_EQ(ParseGrant("service"), (Grant{Role::kService, ""}));
  EXPECT_EQ(ParseGrant("country_ops:DE"), (Grant{Role::kCountryOps, "DE"}));
  EXPECT_EQ(ParseGrant("field:FR"), (Grant{Role::kField, "FR"}));
  EXPECT_EQ(ParseGrant("viewer:US"), (Grant{Role::kViewer, "US"}));
  for (const char* bad : {"", "admin", "field", "field:", "field:de", "field:DEU", "global_ops:DE",
                          "service:", "viewer:D1", "Field:DE"}) {
    EXPECT_FALSE(ParseGrant(bad).has_value()) << bad;
  }
  EXPECT_EQ(GrantName(*ParseGrant("country_ops:DE")), "country_ops:DE");
  EXPECT_EQ(GrantName(*ParseGrant("global_ops")), "global_ops");
}

TEST(Principal, CountryRolesHoldForTheirCountryOnly) {
  const Principal p{"anna", {{Role::kField, "DE"}, {Role::kViewer, "AT"}}};
  EXPECT_TRUE(p.Has(Role::kField, "DE"));
  EXPECT_FALSE(p.Has(Role::kField, "FR"));
  EXPECT_TRUE(p.Has(Role::kViewer, "AT"));
  EXPECT_FALSE(p.Has(Role::kViewer, "DE"));
  EXPECT_FALSE(p.Has(Role::kGlobalOps));
  const Principal ops{"ops", {{Role::kGlobalOps, ""}}};
  EXPECT_TRUE(ops.Has(Role::kGlobalOps));
  EXPECT_TRUE(ops.Has(Role::kGlobalOps, "DE")) << "a global role ignores the country";
}

TEST(TokenTable, AuthenticatesByTheTokensHashOnly) {
  const std::string text = "- principal: ops@hq\n  token_sha256: " + Sha256Hex("s3cret-ops") +
                           "\n  roles: [global_ops]\n"
                           "- principal: anna\n  token_sha256: " +
                           Sha256Hex("anna-token") + "\n  roles: [field:DE, viewer:AT, field:DE]\n";
  std::vector<Issue> issues;
  std::unique_ptr<const TokenTable> table = TokenTable::Parse(text, "tokens.yaml", &issues);
  ASSERT_NE(table, nullptr) << ::testing::PrintToString(Messages(issues));
  EXPECT_TRUE(issues.empty());
  EXPECT_EQ(table->size(), 2u);
  const Principal* ops = table->Authenticate("s3cret-ops");
  ASSERT_NE(ops, nullptr);
  EXPECT_EQ(ops->name, "ops@hq");
  EXPECT_TRUE(ops->Has(Role::kGlobalOps));
  const Principal* anna = table->Authenticate("anna-token");
  ASSERT_NE(anna, nullptr);
  EXPECT_EQ(anna->grants.size(), 2u) << "a repeated role counts once";
  EXPECT_EQ(table->Authenticate("anna-token "), nullptr);
  EXPECT_EQ(table->Authenticate(""), nullptr);
  EXPECT_EQ(table->Authenticate(Sha256Hex("anna-token")), nullptr)
      << "the stored hash is not a token";
}

TEST(TokenTable, UppercaseHexIsAccepted) {
  std::string hash = Sha256Hex("t");
  for (char& c : hash) c = static_cast<char>(std::toupper(c));
  std::vector<Issue> issues;
  auto table = TokenTable::Parse(
      "- {principal: svc, token_sha256: " + hash + ", roles: [service]}\n", "t.yaml", &issues);
  ASSERT_NE(table, nullptr);
  EXPECT_NE(table->Authenticate("t"), nullptr);
}

TEST(TokenTable, EveryMistakeIsReportedWithItsPlaceAndNoTableIsMade) {
  const std::string good = Sha256Hex("a");
  const std::string text =
      "- principal: a\n"  // 1
      "  token_sha256: " +
      good +
      "\n"                       // 2
      "  roles: [global_ops]\n"  // 3
      "- principal: a\n"         // 4
      "  token_sha256: " +
      good +
      "\n"                            // 5
      "  roles: [field:de, admin]\n"  // 6
      "- principal: c\n"              // 7
      "  token_sha256: 1234\n"        // 8
      "  roles: []\n"                 // 9
      "  token: in-clear\n"           // 10
      "- principal: d\n";             // 11
  std::vector<Issue> issues;
  EXPECT_EQ(TokenTable::Parse(text, "tokens.yaml", &issues), nullptr);
  const std::vector<std::string> messages = Messages(issues);
  const std::vector<std::string> expected = {
      "tokens.yaml:4:14: error: principal 'a': listed twice (first on line 1)",
      "tokens.yaml:5:17: error: token_sha256: the same token as line 2; every principal needs its "
      "own token",
      "tokens.yaml:6:11: error: roles: 'field:de' is not a role; expected one of: global_ops, "
      "country_ops:CC, field:CC, viewer:CC, service (CC: a country code such as DE)",
      "tokens.yaml:6:21: error: roles: 'admin' is not a role; expected one of: global_ops, "
      "country_ops:CC, field:CC, viewer:CC, service (CC: a country code such as DE)",
  };
  for (const std::string& e : expected) {
    EXPECT_NE(std::find(messages.begin(), messages.end(), e), messages.end())
        << e << "\nin:\n"
        << ::testing::PrintToString(messages);
  }
  auto has = [&](const std::string& part) {
    return std::any_of(messages.begin(), messages.end(),
                       [&](const std::string& m) { return m.find(part) != std::string::npos; });
  };
  EXPECT_TRUE(has("tokens.yaml:8:17: error: token_sha256: expected 64 hex digits"));
  EXPECT_TRUE(has("tokens.yaml:9:10: error: roles: empty"));
  EXPECT_TRUE(has("tokens.yaml:10:3: error:")) << "an unknown key (a token in clear) is refused";
  EXPECT_TRUE(has("tokens.yaml:11:")) << "an entry without token_sha256 and roles";
}

TEST(TokenTable, PrincipalsAreNamedTextAndATokenMayRotate) {
  const std::string a = Sha256Hex("a"), b = Sha256Hex("b");
  struct Case {
    std::string text, issue;
  };
  for (const Case& c : std::initializer_list<Case>{
           {"- {principal: '', token_sha256: " + a + ", roles: [service]}\n",
            "t.yaml:1:15: error: principal: empty; every token needs a named principal"},
           {std::string("- {principal: \"x\\0y\", token_sha256: ") + a + ", roles: [service]}\n",
            "t.yaml:1:15: error: principal 'x\\x00y': control characters are not allowed"},
           {std::string("- {principal: x") + '\0' + "y, token_sha256: " + a +
                ", roles: [service]}\n",
            "t.yaml:1:16: error: NUL byte in text"},
           {"- {principal: " + std::string(129, 'p') + ", token_sha256: " + a +
                ", roles: [service]}\n",
            "t.yaml:1:15: error: principal: 129 bytes; at most 128"},
           {"- {principal: M\xFCller, token_sha256: " + a + ", roles: [service]}\n",
            "t.yaml:1:16: error: byte 0xFC is not valid UTF-8; the file must be UTF-8"},
           {"- {principal: x, token_sha256: [], roles: [service]}\n",
            "t.yaml:1:32: error: token_sha256: empty list; give at least one token's SHA-256"},
       }) {
    std::vector<Issue> issues;
    EXPECT_EQ(TokenTable::Parse(c.text, "t.yaml", &issues), nullptr) << c.text;
    EXPECT_EQ(::testing::PrintToString(Messages(issues)),
              ::testing::PrintToString(std::vector<std::string>{c.issue}))
        << c.text;
  }
  // Two tokens for one principal while clients move from the old to the new.
  std::vector<Issue> issues;
  auto table = TokenTable::Parse(
      "- {principal: svc, token_sha256: [" + a + ", " + b + "], roles: [service]}\n", "t.yaml",
      &issues);
  ASSERT_NE(table, nullptr) << ::testing::PrintToString(Messages(issues));
  ASSERT_NE(table->Authenticate("a"), nullptr);
  ASSERT_NE(table->Authenticate("b"), nullptr);
  EXPECT_EQ(table->Authenticate("a")->name, "svc");
  EXPECT_EQ(table->Authenticate("b")->name, "svc");
}

TEST(TokenTable, HostileAndEmptyFilesAreIssuesNotCrashes) {
  for (const char* text : {"", ",", "principal: x", "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
                           "- 5\n- [a]\n", "- {principal: [x], token_sha256: {}, roles: x}\n"}) {
    std::vector<Issue> issues;
    EXPECT_EQ(TokenTable::Parse(text, "t.yaml", &issues), nullptr) << text;
    EXPECT_FALSE(issues.empty()) << text;
  }
}

TEST(TokenTable, LoadNamesTheFileAndEveryIssue) {
  EXPECT_EQ(TokenTable::Load("/nonexistent/tokens.yaml").status().code(),
            absl::StatusCode::kNotFound);
  char path[] = "/tmp/harmonia-tokens-XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  const std::string text = "- principal: x\n  token_sha256: nope\n  roles: [boss]\n";
  ASSERT_EQ(write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  close(fd);
  auto invalid = TokenTable::Load(path);
  EXPECT_EQ(invalid.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(invalid.status().message().find(std::string(path) + ":2:17: error: token_sha256"),
            absl::string_view::npos)
      << invalid.status();
  EXPECT_NE(invalid.status().message().find(std::string(path) + ":3:11: error: roles: 'boss'"),
            absl::string_view::npos)
      << invalid.status();
  unlink(path);
}

}  // namespace
}  // namespace harmonia::auth
