// libFuzzer target: the rule-set compiler, the country loader and the tokens
// file reader on arbitrary text. Any crash, hang, leak or sanitizer report is
// a bug; a found input goes into tests/fuzz/regressions/rules/ and is
// replayed by every test run.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "auth/auth.h"
#include "engine/country_config.h"
#include "engine/rule_set.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  harmonia::engine::CompileResult r = harmonia::engine::CompileRuleSet(text, "fuzz.yaml");
  const harmonia::engine::RuleSet* rules = r.rule_set.get();
  harmonia::engine::LoadCountryConfig(
      text, "fuzz.yaml",
      [&](const std::string&) -> const harmonia::engine::RuleSet* { return rules; });
  std::vector<harmonia::Issue> issues;
  harmonia::auth::TokenTable::Parse(text, "fuzz.yaml", &issues);
  return 0;
}
