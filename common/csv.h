// RFC 4180 CSV reading and writing, fast enough for tens of millions of rows.
//
// The reader works on a buffer already in memory (see common/file.h) and hands
// out string_views: no allocation per field. It accepts a UTF-8 byte order mark
// at the start, LF or CRLF line ends, quoted fields with embedded commas,
// doubled quotes and newlines. A malformed record is reported with its line and
// column and skipped; reading resumes at the next line, so one bad row never
// hides the good ones after it.
//
// Thread-safety: a Reader is not thread-safe; distinct Readers over the same
// buffer may run concurrently.
#ifndef HARMONIA_COMMON_CSV_H_
#define HARMONIA_COMMON_CSV_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace harmonia::csv {

struct ParseError {
  int64_t line = 0;     // 1-based physical line of the offending character
  int64_t column = 0;   // 1-based byte column
  std::string message;  // e.g. "unterminated quoted field"
};

class Reader {
 public:
  // `data` must outlive the reader and every view it returns. `first_line` is
  // the physical line number of data[0] (for readers over a slice of a file).
  explicit Reader(std::string_view data, int64_t first_line = 1);

  // Reads the next record. Returns true and fills `fields` (views valid until
  // the next call) on success; returns false at the end of the data.
  // A malformed record sets *error, leaves `fields` empty and returns true;
  // the caller reports it and calls Next() again. A blank line is a record
  // with one empty field.
  bool Next(std::vector<std::string_view>* fields, ParseError* error);

  // Physical line (1-based) on which the record last returned by Next() starts.
  int64_t record_line() const { return record_line_; }

  // Byte offset in `data` just past the record last returned by Next().
  size_t offset() const { return pos_; }

  // Physical line (1-based) of the byte at offset().
  int64_t line() const { return line_; }

 private:
  std::string_view data_;
  size_t pos_ = 0;
  int64_t line_;
  int64_t record_line_ = 0;
  std::string scratch_;  // unescaped text of quoted fields of the current record
};

// Splits `data` (a whole CSV file body, after the header) into at most `parts`
// slices that each begin at a record boundary, for parsing in parallel.
// Quote parity is tracked so a newline inside a quoted field is never a split
// point. Each slice carries the physical line number of its first byte.
struct Slice {
  std::string_view data;
  int64_t first_line = 1;
};
std::vector<Slice> SplitAtRecordBoundaries(std::string_view data, int64_t first_line, int parts);

// Strips a leading UTF-8 byte order mark, if any.
std::string_view StripBom(std::string_view data);

// Appends `field` to `out`, quoted when it holds a comma, quote, CR or LF
// (doubling embedded quotes), so that Reader reads back the same bytes.
void AppendField(std::string* out, std::string_view field);

// Appends the fields separated by commas and a final "\n".
void AppendRecord(std::string* out, const std::vector<std::string_view>& fields);

}  // namespace harmonia::csv

#endif  // HARMONIA_COMMON_CSV_H_
