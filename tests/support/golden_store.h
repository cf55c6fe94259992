// The hand-checked golden data set (tests/golden/README.md) in a store, for
// unit tests of the parts that read a store (rules and worker cores).
#ifndef HARMONIA_TESTS_SUPPORT_GOLDEN_STORE_H_
#define HARMONIA_TESTS_SUPPORT_GOLDEN_STORE_H_

#include <string>

#include "absl/status/status.h"
#include "store/store.h"

namespace harmonia::testing {

// Writes tests/golden/data's customers, answers and metrics into `store`
// (rows the readers reject, and inputs of unknown customers, are left out).
absl::Status ImportGolden(store::Store& store, const std::string& source_dir);

}  // namespace harmonia::testing

#endif  // HARMONIA_TESTS_SUPPORT_GOLDEN_STORE_H_
