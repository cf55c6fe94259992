#include "common/csv.h"

#include <algorithm>
#include <array>
#include <cstring>

#include "common/internal/csv_split.h"

// Conventions shared by the Reader and the splitter, which must agree exactly
// so that parsing slices in parallel yields the same records and errors as one
// pass over the whole buffer:
//  - A line ends at "\n", "\r\n" or a lone "\r", inside quoted fields too (for
//    line numbers; the bytes stay in the field).
//  - A quote opens a quoted field only at the start of a field. Anywhere else
//    in an unquoted field it is an error, as is anything but ',' or a line end
//    after a closing quote; both resume at the start of the next physical line.
//  - An unterminated quoted field runs to the end of the data.
//  - A byte order mark is skipped only when first_line is 1 (the start of a
//    file). Columns count bytes from the start of the line, so on line 1 they
//    include it, like offset().

namespace harmonia::csv {
namespace {

constexpr std::string_view kBom = "\xEF\xBB\xBF";

// Bytes that end an unquoted field, or are an error inside one.
constexpr std::array<bool, 256> kSpecial = [] {
  std::array<bool, 256> table{};
  table[static_cast<unsigned char>(',')] = true;
  table[static_cast<unsigned char>('"')] = true;
  table[static_cast<unsigned char>('\n')] = true;
  table[static_cast<unsigned char>('\r')] = true;
  return table;
}();

bool IsSpecial(char c) { return kSpecial[static_cast<unsigned char>(c)]; }
bool IsLineEnd(char c) { return c == '\n' || c == '\r'; }

// Offset of the first quote in data[from, size), or size. Quotes are usually
// near (closing a short field), where an inline look beats a memchr call.
size_t FindQuote(const char* d, size_t from, size_t size) {
  const size_t near_end = std::min(size, from + 16);
  for (size_t i = from; i < near_end; ++i) {
    if (d[i] == '"') return i;
  }
  if (near_end == size) return size;
  const void* hit = std::memchr(d + near_end, '"', size - near_end);
  return hit == nullptr ? size : static_cast<const char*>(hit) - d;
}

// Number of line ends whose last byte lies in data[begin, end).
int64_t CountLineEnds(std::string_view data, size_t begin, size_t end) {
  const char* const d = data.data();
  if (end - begin < 64) {  // the usual quoted field
    int64_t count = 0;
    for (size_t i = begin; i < end; ++i) {
      count += d[i] == '\n' || (d[i] == '\r' && (i + 1 >= data.size() || d[i + 1] != '\n'));
    }
    return count;
  }
  int64_t count = std::count(d + begin, d + end, '\n');
  // Lone CRs are rare: find them with memchr rather than a second branchy loop.
  for (const char* cr = static_cast<const char*>(std::memchr(d + begin, '\r', end - begin));
       cr != nullptr; cr = static_cast<const char*>(std::memchr(cr + 1, '\r', d + end - cr - 1))) {
    const size_t i = cr - d;
    if (i + 1 >= data.size() || d[i + 1] != '\n') ++count;
  }
  return count;
}

// Position just past the first line end at or after `pos`, or data.size().
size_t SkipPastLineEnd(std::string_view data, size_t pos) {
  for (; pos < data.size(); ++pos) {
    if (data[pos] == '\n') return pos + 1;
    if (data[pos] == '\r') {
      return (pos + 1 < data.size() && data[pos + 1] == '\n') ? pos + 2 : pos + 1;
    }
  }
  return pos;
}

// 1-based byte column of data[pos]: distance from the previous line end.
int64_t ColumnAt(std::string_view data, size_t pos) {
  size_t start = pos;
  while (start > 0 && !IsLineEnd(data[start - 1])) --start;
  return static_cast<int64_t>(pos - start) + 1;
}

// Replaces each field holding doubled quotes (the only fields that contain a
// quote at all) by its unescaped text in `scratch`. The text is written first
// and the views taken afterwards, so growing `scratch` cannot leave them
// dangling.
void UnescapeQuotedFields(std::vector<std::string_view>* fields, std::string* scratch) {
  scratch->clear();
  for (const std::string_view field : *fields) {
    if (field.find('"') == std::string_view::npos) continue;
    for (size_t i = 0; i < field.size(); ++i) {
      scratch->push_back(field[i]);
      if (field[i] == '"') ++i;  // the second quote of a pair
    }
  }
  size_t offset = 0;
  for (std::string_view& field : *fields) {
    const size_t quotes = std::count(field.begin(), field.end(), '"');
    if (quotes == 0) continue;
    const size_t length = field.size() - quotes / 2;
    field = std::string_view(scratch->data() + offset, length);
    offset += length;
  }
}

}  // namespace

std::string_view StripBom(std::string_view data) {
  if (data.substr(0, kBom.size()) == kBom) data.remove_prefix(kBom.size());
  return data;
}

Reader::Reader(std::string_view data, int64_t first_line) : data_(data), line_(first_line) {
  if (first_line == 1) pos_ = data.size() - StripBom(data).size();
}

bool Reader::Next(std::vector<std::string_view>* fields, ParseError* error) {
  fields->clear();
  error->line = 0;
  error->column = 0;
  error->message.clear();
  const size_t size = data_.size();
  if (pos_ >= size) return false;
  const char* const d = data_.data();
  record_line_ = line_;

  // Reports an error at data_[at], on the current line, and resumes at the
  // start of the next line (or ends, when `to_end`).
  const auto fail = [&](size_t at, bool to_end, const char* message) {
    fields->clear();
    error->line = line_;
    error->column = ColumnAt(data_, at);
    error->message = message;
    pos_ = to_end ? size : SkipPastLineEnd(data_, at);
    if (!to_end && IsLineEnd(d[pos_ - 1])) ++line_;
    return true;
  };

  bool has_doubled_quotes = false;
  size_t p = pos_;
  for (;;) {  // one field per iteration
    if (p < size && d[p] == '"') {
      const size_t open = p;
      size_t close = p + 1;
      for (;;) {
        close = FindQuote(d, close, size);
        if (close == size) {
          // Nothing closes the quote: by RFC 4180 the rest of the file is this
          // field. Say exactly which lines that swallows, so nothing is lost
          // silently.
          const int64_t last = line_ + CountLineEnds(data_, open, size) -
                               (size > 0 && IsLineEnd(d[size - 1]) ? 1 : 0);
          std::string why = "unterminated quoted field";
          if (last > line_) {
            why += " (lines " + std::to_string(line_) + "-" + std::to_string(last) +
                   " are skipped: close the quote)";
          }
          fail(open, /*to_end=*/true, "");
          error->message = why;
          return true;
        }
        if (close + 1 < size && d[close + 1] == '"') {
          has_doubled_quotes = true;
          close += 2;
          continue;
        }
        break;
      }
      line_ += CountLineEnds(data_, open + 1, close);
      fields->emplace_back(d + open + 1, close - open - 1);
      p = close + 1;
      if (p < size && d[p] != ',' && !IsLineEnd(d[p])) {
        return fail(p, /*to_end=*/false,
                    "unexpected character after closing quote (expected ',' or end of line)");
      }
    } else {
      const size_t start = p;
      while (p < size && !IsSpecial(d[p])) ++p;
      fields->emplace_back(d + start, p - start);
      if (p < size && d[p] == '"') {
        return fail(p, /*to_end=*/false,
                    "quote character in unquoted field (quote the whole field and double "
                    "the quotes inside it)");
      }
    }
    // Here p is at the end of the data, a comma or a line end.
    if (p >= size) {
      pos_ = size;
      break;
    }
    if (d[p] == ',') {
      ++p;
      continue;
    }
    ++line_;
    pos_ = (d[p] == '\r' && p + 1 < size && d[p + 1] == '\n') ? p + 2 : p + 1;
    break;
  }
  if (has_doubled_quotes) UnescapeQuotedFields(fields, &scratch_);
  return true;
}

namespace internal {
namespace {

// Record boundaries (offsets where the Reader would start a record) at or past
// evenly spaced targets, found by following the Reader's quote state with
// memchr: only quotes change it, so the bytes between quotes are skipped.
class CutFinder {
 public:
  CutFinder(std::string_view data, size_t parts) : data_(data), parts_(parts) {}

  std::vector<size_t> Find(size_t start) {
    const char* const d = data_.data();
    const size_t size = data_.size();
    size_t p = start;  // the start of a field, outside quotes
    while (p < size && !done()) {
      const size_t quote = FindQuote(d, p, size);
      // Every line end in [p, quote) ends a record.
      while (!done() && target() <= quote) {
        const size_t boundary = NextBoundary(std::max(p, target() - 1), quote);
        if (boundary == kNone) break;
        Cut(boundary);
      }
      if (quote >= size || done()) break;
      if (quote == p || d[quote - 1] == ',' || IsLineEnd(d[quote - 1])) {
        // An opening quote: find the closing one, skipping doubled quotes.
        size_t close = quote + 1;
        for (;;) {
          close = FindQuote(d, close, size);
          if (close == size) return cuts_;  // unterminated: one record to the end
          if (close + 1 < size && d[close + 1] == '"') {
            close += 2;
            continue;
          }
          break;
        }
        p = close + 1;
        if (p < size && d[p] == ',') {
          ++p;
          continue;
        }
      } else {
        p = quote;  // a stray quote: the Reader resumes after this line
      }
      // Ends the record at the line end at p, or skips a malformed line.
      p = SkipPastLineEnd(data_, p);
      Cut(p);
    }
    return cuts_;
  }

 private:
  static constexpr size_t kNone = static_cast<size_t>(-1);

  bool done() const { return next_ >= parts_; }
  size_t target() const { return data_.size() / parts_ * next_; }

  // The offset just past the first line end whose last byte is in [from, to).
  size_t NextBoundary(size_t from, size_t to) const {
    for (size_t i = from; i < to; ++i) {
      if (data_[i] == '\n') return i + 1;
      if (data_[i] == '\r') {
        return (i + 1 < data_.size() && data_[i + 1] == '\n') ? i + 2 : i + 1;
      }
    }
    return kNone;
  }

  // Cuts at record boundary `offset` if it is past the next target.
  void Cut(size_t offset) {
    if (offset >= data_.size()) next_ = parts_;  // no record starts after the end
    if (done() || offset < target()) return;
    cuts_.push_back(offset);
    while (!done() && target() <= offset) ++next_;
  }

  std::string_view data_;
  size_t parts_;
  size_t next_ = 1;  // index of the next target, 1..parts_-1
  std::vector<size_t> cuts_;
};

}  // namespace

std::vector<Slice> SplitAtRecordBoundaries(std::string_view data, int64_t first_line, int parts,
                                           size_t min_slice_bytes) {
  size_t count = parts < 1 ? 1 : static_cast<size_t>(parts);
  count = std::min(count, std::max<size_t>(1, data.size() / std::max<size_t>(1, min_slice_bytes)));
  std::vector<size_t> cuts;
  if (count > 1) {
    const size_t start = first_line == 1 ? data.size() - StripBom(data).size() : 0;
    cuts = CutFinder(data, count).Find(start);
  }
  std::vector<Slice> slices;
  slices.reserve(cuts.size() + 1);
  size_t begin = 0;
  int64_t line = first_line;
  for (const size_t cut : cuts) {
    slices.push_back({data.substr(begin, cut - begin), line});
    line += CountLineEnds(data, begin, cut);
    begin = cut;
  }
  slices.push_back({data.substr(begin), line});
  return slices;
}

}  // namespace internal

std::vector<Slice> SplitAtRecordBoundaries(std::string_view data, int64_t first_line, int parts) {
  return internal::SplitAtRecordBoundaries(data, first_line, parts, internal::kMinSliceBytes);
}

void AppendField(std::string* out, std::string_view field) {
  if (std::none_of(field.begin(), field.end(), IsSpecial)) {
    out->append(field);
    return;
  }
  out->push_back('"');
  for (const char c : field) {
    if (c == '"') out->push_back('"');
    out->push_back(c);
  }
  out->push_back('"');
}

void AppendRecord(std::string* out, const std::vector<std::string_view>& fields) {
  for (size_t i = 0; i < fields.size(); ++i) {
    if (i > 0) out->push_back(',');
    AppendField(out, fields[i]);
  }
  out->push_back('\n');
}

}  // namespace harmonia::csv
