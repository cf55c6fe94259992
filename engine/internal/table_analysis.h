// Proofs about decision tables, reported as warnings (docs/rule-language.md): a rule that
// can never fire (shadowed under `first`/`priority`, or outside its columns'
// values), rules that overlap under `unique`, a segment nothing can reach, a
// drivers rule that can never fire and a tag nothing can add.
//
// Only what can be proven is reported: conditions on scores depend on their
// inputs, so overlaps involving a score are not claimed.
//
// INTERNAL to engine/.
#ifndef HARMONIA_ENGINE_INTERNAL_TABLE_ANALYSIS_H_
#define HARMONIA_ENGINE_INTERNAL_TABLE_ANALYSIS_H_

#include "common/issue.h"
#include "engine/rule_set.h"

namespace harmonia::engine::internal {

// Appends warnings about `rules` to `issues`. REQUIRES: `rules` compiled
// without errors.
void AnalyzeTables(const RuleSet& rules, IssueList* issues);

}  // namespace harmonia::engine::internal

#endif  // HARMONIA_ENGINE_INTERNAL_TABLE_ANALYSIS_H_
