// Internal to common/: the tunable form of csv::SplitAtRecordBoundaries, so
// tests and the fuzzer can split inputs far smaller than a production slice.
#ifndef HARMONIA_COMMON_INTERNAL_CSV_SPLIT_H_
#define HARMONIA_COMMON_INTERNAL_CSV_SPLIT_H_

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "common/csv.h"

namespace harmonia::csv::internal {

// Below this many bytes per slice, parsing in parallel costs more than it saves
// (a thread start-up is worth tens of microseconds of parsing).
inline constexpr size_t kMinSliceBytes = 64 << 10;

// As csv::SplitAtRecordBoundaries, but asks for no slice smaller than
// `min_slice_bytes` (the last one may be smaller) instead of kMinSliceBytes.
std::vector<Slice> SplitAtRecordBoundaries(std::string_view data, int64_t first_line, int parts,
                                           size_t min_slice_bytes);

}  // namespace harmonia::csv::internal

#endif  // HARMONIA_COMMON_INTERNAL_CSV_SPLIT_H_
