// libFuzzer target: the rule-set compiler and the country loader on arbitrary
// text. Any crash, hang, leak or sanitizer report is a bug; a found input goes
// into tests/fuzz/regressions/rules/ and is replayed by every test run.
#include <cstddef>
#include <cstdint>
#include <string>

#include "engine/country_config.h"
#include "engine/rule_set.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  harmonia::engine::CompileResult r = harmonia::engine::CompileRuleSet(text, "fuzz.yaml");
  const harmonia::engine::RuleSet* rules = r.rule_set.get();
  harmonia::engine::LoadCountryConfig(
      text, "fuzz.yaml",
      [&](const std::string&) -> const harmonia::engine::RuleSet* { return rules; });
  return 0;
}
