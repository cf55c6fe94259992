// libFuzzer target for common/csv.h. Checks, on any input:
//  - the Reader terminates, record and error lines never go backwards, errors
//    carry a position and no fields, and every field byte is readable (ASan
//    catches views left dangling by the scratch buffer);
//  - fields outside the input differ from their raw text only by unescaping;
//  - good records written back with AppendRecord read back the same;
//  - slices from SplitAtRecordBoundaries (2 and 3 parts, and a minimum slice
//    size small enough to split fuzzer-sized inputs) re-join to the input and
//    read exactly like the whole input.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "common/csv.h"
#include "common/internal/csv_split.h"

namespace {

using harmonia::csv::ParseError;
using harmonia::csv::Reader;
using harmonia::csv::Slice;

void Check(bool condition) {
  if (!condition) std::abort();
}

struct Record {
  int64_t line;
  std::vector<std::string> fields;
  ParseError error;

  bool operator==(const Record& other) const {
    return line == other.line && fields == other.fields && error.line == other.error.line &&
           error.column == other.error.column && error.message == other.error.message;
  }
};

// Reads `data` to the end, checking the Reader's invariants on the way.
std::vector<Record> ReadAll(std::string_view data, int64_t first_line) {
  std::vector<Record> records;
  Reader reader(data, first_line);
  std::vector<std::string_view> fields;
  ParseError error;
  int64_t last_line = first_line;
  int64_t last_error_line = 0;
  const int64_t max_line = first_line + static_cast<int64_t>(data.size());
  while (reader.Next(&fields, &error)) {
    Check(records.size() <= data.size());  // every record consumes input
    Check(reader.record_line() >= last_line && reader.record_line() <= max_line);
    last_line = reader.record_line();
    Record record{reader.record_line(), {}, error};
    if (!error.message.empty()) {
      Check(fields.empty());
      Check(error.line >= reader.record_line() && error.line <= max_line);
      Check(error.line >= last_error_line);
      Check(error.column >= 1 && error.column <= static_cast<int64_t>(data.size()));
      last_error_line = error.line;
    } else {
      Check(!fields.empty());
      Check(error.line == 0 && error.column == 0);
      for (const std::string_view field : fields) {
        const bool inside =
            field.data() >= data.data() && field.data() + field.size() <= data.data() + data.size();
        if (!inside) {
          // Unescaped into scratch: "x""y" became x"y, so it holds a quote.
          Check(field.find('"') != std::string_view::npos);
        }
        record.fields.emplace_back(field);  // reads every byte
      }
    }
    records.push_back(std::move(record));
  }
  Check(!reader.Next(&fields, &error));  // stays at the end
  return records;
}

void CheckRoundTrip(const std::vector<Record>& records) {
  std::string written;
  std::vector<std::string_view> good;
  std::vector<const Record*> originals;
  for (const Record& record : records) {
    if (!record.error.message.empty()) continue;
    std::vector<std::string_view> fields(record.fields.begin(), record.fields.end());
    harmonia::csv::AppendRecord(&written, fields);
    originals.push_back(&record);
  }
  // Not line 1: a first field starting with a byte order mark is data here.
  const std::vector<Record> reread = ReadAll(written, 2);
  Check(reread.size() == originals.size());
  for (size_t i = 0; i < reread.size(); ++i) {
    Check(reread[i].error.message.empty());
    Check(reread[i].fields == originals[i]->fields);
  }
}

void CheckSplit(std::string_view data, int parts, size_t min_slice_bytes,
                const std::vector<Record>& whole) {
  const std::vector<Slice> slices =
      harmonia::csv::internal::SplitAtRecordBoundaries(data, 1, parts, min_slice_bytes);
  Check(!slices.empty() && slices.size() <= static_cast<size_t>(parts));
  Check(slices[0].first_line == 1);
  std::vector<Record> joined_records;
  const char* expected_start = data.data();
  for (const Slice& slice : slices) {
    Check(slice.data.data() == expected_start);  // contiguous, in order
    Check(&slice == &slices[0] || !slice.data.empty());
    expected_start += slice.data.size();
    std::vector<Record> part = ReadAll(slice.data, slice.first_line);
    joined_records.insert(joined_records.end(), part.begin(), part.end());
  }
  Check(expected_start == data.data() + data.size());
  Check(joined_records == whole);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  const std::string_view data(reinterpret_cast<const char*>(bytes), size);
  const std::vector<Record> whole = ReadAll(data, 1);
  CheckRoundTrip(whole);
  for (const int parts : {2, 3}) {
    CheckSplit(data, parts, 1, whole);
    CheckSplit(data, parts, harmonia::csv::internal::kMinSliceBytes, whole);
  }
  // The public entry point: fuzzer inputs are small, so one slice.
  const std::vector<Slice> slices = harmonia::csv::SplitAtRecordBoundaries(data, 7, 3);
  Check(size >= 2 * harmonia::csv::internal::kMinSliceBytes ||
        (slices.size() == 1 && slices[0].data.size() == size && slices[0].first_line == 7));
  return 0;
}
