#include "common/csv.h"

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/internal/csv_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace harmonia::csv {
namespace {

// Printable rendering of field bytes: \n, \r and non-ASCII bytes escaped.
std::string Escape(std::string_view s) {
  std::string out;
  for (const char c : s) {
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) {
      out += absl::StrFormat("\\x%02X", static_cast<unsigned char>(c));
    } else {
      out += c;
    }
  }
  return out;
}

// Reads everything, rendering each record as "line:[f1][f2]..." and each
// error as "line:E<line>:<column> <message>" (line = record_line()).
std::vector<std::string> ReadAll(std::string_view data, int64_t first_line = 1) {
  std::vector<std::string> out;
  Reader reader(data, first_line);
  std::vector<std::string_view> fields;
  ParseError error;
  while (reader.Next(&fields, &error)) {
    std::string row = absl::StrCat(reader.record_line(), ":");
    if (!error.message.empty()) {
      EXPECT_TRUE(fields.empty()) << Escape(data);
      absl::StrAppend(&row, "E", error.line, ":", error.column, " ", error.message);
    } else {
      EXPECT_FALSE(fields.empty()) << Escape(data);
      for (const std::string_view f : fields) absl::StrAppend(&row, "[", Escape(f), "]");
    }
    out.push_back(std::move(row));
    if (out.size() > data.size() + 1) {
      ADD_FAILURE() << "reader does not advance on " << Escape(data);
      break;
    }
  }
  return out;
}

constexpr char kQuoteError[] =
    "quote character in unquoted field (quote the whole field and double the quotes inside it)";
constexpr char kAfterQuoteError[] =
    "unexpected character after closing quote (expected ',' or end of line)";
constexpr char kUnterminated[] = "unterminated quoted field";

struct ReadCase {
  std::string input;
  std::vector<std::string> records;
};

TEST(CsvReaderTest, ReadsRecords) {
  const std::vector<ReadCase> cases = {
      {"", {}},
      {"a,b,c\n1,2,3\n", {"1:[a][b][c]", "2:[1][2][3]"}},
      {"a,b\n1,2", {"1:[a][b]", "2:[1][2]"}},  // no final line end
      {"a,b\r\n1,2\r\n", {"1:[a][b]", "2:[1][2]"}},
      {"a,b\r\n1,2", {"1:[a][b]", "2:[1][2]"}},
      {"a,b\r1,2\r", {"1:[a][b]", "2:[1][2]"}},  // lone CR ends a line
      {"a\rb\r\nc\nd", {"1:[a]", "2:[b]", "3:[c]", "4:[d]"}},
      {"x", {"1:[x]"}},
      {",,\n", {"1:[][][]"}},
      {"a,\n,b\n,", {"1:[a][]", "2:[][b]", "3:[][]"}},
      {"\n", {"1:[]"}},
      {"a\n\nb\n", {"1:[a]", "2:[]", "3:[b]"}},
      {"a\r\n\r\n\r\nb", {"1:[a]", "2:[]", "3:[]", "4:[b]"}},
      {"a\r\rb", {"1:[a]", "2:[]", "3:[b]"}},
      {" a , b ", {"1:[ a ][ b ]"}},  // spaces are data
      {"\xEF\xBB\xBFid,name\n1,x\n", {"1:[id][name]", "2:[1][x]"}},
      {"\xEF\xBB\xBF\"id\",name", {"1:[id][name]"}},
      {"\xEF\xBB\xBF", {}},
      {"a\n\xEF\xBB\xBF", {"1:[a]", "2:[\\xEF\\xBB\\xBF]"}},  // only at the start
      {"\"a,b\",c\n", {"1:[a,b][c]"}},
      {"\"\",\"\"\n", {"1:[][]"}},
      {"\"\"\"\"", {"1:[\"]"}},
      {"\"say \"\"hi\"\"\",x", {"1:[say \"hi\"][x]"}},
      {"\"a\"\"b\",plain,\"c\"\"\"\"d\",\"e\"", {"1:[a\"b][plain][c\"\"d][e]"}},
      {"\"line1\nline2\",b\nnext,row\n", {"1:[line1\\nline2][b]", "3:[next][row]"}},
      {"\"a\r\nb\"\nc", {"1:[a\\r\\nb]", "3:[c]"}},
      {"\"a\rb\"\rc", {"1:[a\\rb]", "3:[c]"}},
      {"h\n\"x\ny\nz\"\nnext\n", {"1:[h]", "2:[x\\ny\\nz]", "5:[next]"}},
      {"\"x\n\n\",\"\n\"\r\nlast", {"1:[x\\n\\n][\\n]", "5:[last]"}},
      {"\"a\"\r\n\"b\"", {"1:[a]", "2:[b]"}},
      {"\"a\",", {"1:[a][]"}},
      {"\xC3\xA9t\xC3\xA9,\"\xE2\x82\xAC\"", {"1:[\\xC3\\xA9t\\xC3\\xA9][\\xE2\\x82\\xAC]"}},
  };
  for (const ReadCase& c : cases) {
    EXPECT_EQ(ReadAll(c.input), c.records) << "input: " << Escape(c.input);
  }
}

TEST(CsvReaderTest, ReportsErrorsAndResumesOnNextLine) {
  const std::vector<ReadCase> cases = {
      // A quote inside an unquoted field.
      {"ab\"c,d\nnext\n", {absl::StrCat("1:E1:3 ", kQuoteError), "2:[next]"}},
      {"ok\na,b\"\r\nnext", {"1:[ok]", absl::StrCat("2:E2:4 ", kQuoteError), "3:[next]"}},
      {"a\"b\rnext", {absl::StrCat("1:E1:2 ", kQuoteError), "2:[next]"}},
      {"x,y\"", {absl::StrCat("1:E1:4 ", kQuoteError)}},
      {"a\"\"b,c\nd", {absl::StrCat("1:E1:2 ", kQuoteError), "2:[d]"}},
      {"\"m\nn\",x\"y\nok", {absl::StrCat("1:E2:5 ", kQuoteError), "3:[ok]"}},
      // The rest of the line is skipped, quotes included.
      {"a\"b,\"c\nd\n", {absl::StrCat("1:E1:2 ", kQuoteError), "2:[d]"}},
      // Something other than a comma or line end after a closing quote.
      {"\"a\"b,c\nok\n", {absl::StrCat("1:E1:4 ", kAfterQuoteError), "2:[ok]"}},
      {"\"a\" ,b\nok", {absl::StrCat("1:E1:4 ", kAfterQuoteError), "2:[ok]"}},
      {"ok\n1,\"a\"x", {"1:[ok]", absl::StrCat("2:E2:6 ", kAfterQuoteError)}},
      {"\"a\"\"\"b\nok", {absl::StrCat("1:E1:6 ", kAfterQuoteError), "2:[ok]"}},
      {"\"a\"\"\"\"b\nok",
       {absl::StrCat("1:E1:1 ", kUnterminated, " (lines 1-2 are skipped: close the quote)")}},
      {"\"p\nq\"r\r\nok", {absl::StrCat("1:E2:3 ", kAfterQuoteError), "3:[ok]"}},
      // An unterminated quoted field runs to the end of the data.
      {"a,b\n\"abc\nmore,fields\n",
       {"1:[a][b]",
        absl::StrCat("2:E2:1 ", kUnterminated, " (lines 2-3 are skipped: close the quote)")}},
      {"x\ny,\"p\nq\nr",
       {"1:[x]",
        absl::StrCat("2:E2:3 ", kUnterminated, " (lines 2-4 are skipped: close the quote)")}},
      {"\"abc\"\"", {absl::StrCat("1:E1:1 ", kUnterminated)}},
      {"\"", {absl::StrCat("1:E1:1 ", kUnterminated)}},
      // Columns count bytes, a byte order mark included.
      {"\xEF\xBB\xBF"
       "a\"b\nc",
       {absl::StrCat("1:E1:5 ", kQuoteError), "2:[c]"}},
      // Errors on consecutive lines, and good records between them.
      {"a\"\nb\"\nc\n\"d\"e\nf",
       {absl::StrCat("1:E1:2 ", kQuoteError), absl::StrCat("2:E2:2 ", kQuoteError), "3:[c]",
        absl::StrCat("4:E4:4 ", kAfterQuoteError), "5:[f]"}},
  };
  for (const ReadCase& c : cases) {
    EXPECT_EQ(ReadAll(c.input), c.records) << "input: " << Escape(c.input);
  }
}

TEST(CsvReaderTest, FirstLineOffsetsLineNumbers) {
  EXPECT_EQ(
      ReadAll("a\n\"b\nc\"\nd\"", 10),
      (std::vector<std::string>{"10:[a]", "11:[b\\nc]", absl::StrCat("13:E13:2 ", kQuoteError)}));
  // A byte order mark is only stripped at the start of a file (line 1).
  EXPECT_EQ(ReadAll("\xEF\xBB\xBF"
                    "a",
                    5),
            (std::vector<std::string>{"5:[\\xEF\\xBB\\xBFa]"}));
}

TEST(CsvReaderTest, OffsetIsPastTheLastRecord) {
  const std::string data = "\xEF\xBB\xBFh1,h2\r\n\"a\nb\",c\nx\"y\nlast";
  Reader reader(data);
  std::vector<std::string_view> fields;
  ParseError error;
  EXPECT_EQ(reader.offset(), 3u);  // past the byte order mark
  ASSERT_TRUE(reader.Next(&fields, &error));
  EXPECT_EQ(data.substr(reader.offset()), "\"a\nb\",c\nx\"y\nlast");
  ASSERT_TRUE(reader.Next(&fields, &error));
  EXPECT_EQ(data.substr(reader.offset()), "x\"y\nlast");
  ASSERT_TRUE(reader.Next(&fields, &error));  // an error resumes on the next line
  EXPECT_EQ(data.substr(reader.offset()), "last");
  ASSERT_TRUE(reader.Next(&fields, &error));
  EXPECT_EQ(reader.offset(), data.size());
  EXPECT_EQ(Reader("\xEF\xBB\xBFx", 2).offset(), 0u);
}

TEST(CsvReaderTest, ClearsErrorAfterAGoodRecord) {
  Reader reader("a\"\nb\n");
  std::vector<std::string_view> fields;
  ParseError error;
  ASSERT_TRUE(reader.Next(&fields, &error));
  EXPECT_EQ(error.message, kQuoteError);
  ASSERT_TRUE(reader.Next(&fields, &error));
  EXPECT_EQ(error.line, 0);
  EXPECT_EQ(error.column, 0);
  EXPECT_EQ(error.message, "");
  EXPECT_THAT(fields, testing::ElementsAre("b"));
  EXPECT_FALSE(reader.Next(&fields, &error));
  EXPECT_FALSE(reader.Next(&fields, &error));  // stays at the end
}

TEST(CsvReaderTest, UnescapedFieldsPointIntoTheData) {
  const std::string data = "plain,\"quoted\",\"dou\"\"bled\"\n";
  Reader reader(data);
  std::vector<std::string_view> fields;
  ParseError error;
  ASSERT_TRUE(reader.Next(&fields, &error));
  ASSERT_THAT(fields, testing::ElementsAre("plain", "quoted", "dou\"bled"));
  const auto inside = [&](std::string_view f) {
    return f.data() >= data.data() && f.data() + f.size() <= data.data() + data.size();
  };
  EXPECT_TRUE(inside(fields[0]));
  EXPECT_TRUE(inside(fields[1]));
  EXPECT_FALSE(inside(fields[2]));  // in the reader's scratch buffer
}

TEST(CsvReaderTest, ManyEscapedFieldsInOneRecordStayValid) {
  // Enough unescaped text to grow the scratch buffer many times over.
  std::string data;
  std::vector<std::string> expected;
  for (int i = 0; i < 2000; ++i) {
    if (i > 0) data += ',';
    const std::string value = absl::StrCat("v", i, "\"", std::string(i % 50, 'x'));
    AppendField(&data, value);
    expected.push_back(value);
  }
  data += "\nnext\n";
  Reader reader(data);
  std::vector<std::string_view> fields;
  ParseError error;
  ASSERT_TRUE(reader.Next(&fields, &error));
  ASSERT_EQ(fields.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) EXPECT_EQ(fields[i], expected[i]) << i;
  ASSERT_TRUE(reader.Next(&fields, &error));
  EXPECT_THAT(fields, testing::ElementsAre("next"));
  EXPECT_EQ(reader.record_line(), 2);
}

TEST(CsvReaderTest, StripBom) {
  EXPECT_EQ(StripBom("\xEF\xBB\xBF"
                     "abc"),
            "abc");
  EXPECT_EQ(StripBom("abc"), "abc");
  EXPECT_EQ(StripBom("\xEF\xBB"), "\xEF\xBB");
  EXPECT_EQ(StripBom(""), "");
}

TEST(CsvWriterTest, AppendFieldQuotesOnlyWhenNeeded) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", ""},
      {"plain", "plain"},
      {" spaced ", " spaced "},
      {"a,b", "\"a,b\""},
      {"say \"hi\"", "\"say \"\"hi\"\"\""},
      {"\"", "\"\"\"\""},
      {"line\nbreak", "\"line\nbreak\""},
      {"cr\r", "\"cr\r\""},
  };
  for (const auto& [field, encoded] : cases) {
    std::string out = "x";
    AppendField(&out, field);
    EXPECT_EQ(out, "x" + encoded) << "field: " << Escape(field);
  }
  std::string record;
  AppendRecord(&record, {"a", "b,c", ""});
  AppendRecord(&record, {""});
  EXPECT_EQ(record, "a,\"b,c\",\n\n");
}

TEST(CsvWriterTest, RoundTripsThroughReader) {
  const std::vector<std::vector<std::string_view>> records = {
      {"a", "b"},
      {""},
      {"", ""},
      {"comma,inside", "quote\"inside", "\"leading", "trailing\""},
      {"lf\n", "crlf\r\n", "cr\r", "\r\n\r\n"},
      {"\"\"", ",", "\n"},
      {"ünïcödé", " spaces "},
  };
  std::string data;
  for (const auto& record : records) AppendRecord(&data, record);
  Reader reader(data);
  std::vector<std::string_view> fields;
  ParseError error;
  for (const auto& record : records) {
    ASSERT_TRUE(reader.Next(&fields, &error)) << Escape(data);
    EXPECT_EQ(error.message, "");
    EXPECT_EQ(fields, record) << Escape(data);
  }
  EXPECT_FALSE(reader.Next(&fields, &error));
}

// Reads the slices one after another, as the parallel loader would, rendered
// like ReadAll.
std::vector<std::string> ReadSlices(const std::vector<Slice>& slices) {
  std::vector<std::string> out;
  for (const Slice& slice : slices) {
    std::vector<std::string> part = ReadAll(slice.data, slice.first_line);
    out.insert(out.end(), part.begin(), part.end());
  }
  return out;
}

std::string Join(const std::vector<Slice>& slices) {
  std::string out;
  for (const Slice& slice : slices) out.append(slice.data);
  return out;
}

// Checks the splitting contract on `data` for 1..max_parts parts: the slices
// re-join to the data, each starts where a record starts (so reading them
// gives what one Reader gives: records, errors and line numbers), and no
// slice is empty unless the data is.
void CheckSplits(std::string_view data, int max_parts, size_t min_slice_bytes = 1) {
  const std::vector<std::string> whole = ReadAll(data);
  for (int parts = 1; parts <= max_parts; ++parts) {
    const std::vector<Slice> slices =
        internal::SplitAtRecordBoundaries(data, 1, parts, min_slice_bytes);
    ASSERT_FALSE(slices.empty());
    EXPECT_LE(slices.size(), static_cast<size_t>(parts));
    EXPECT_EQ(Join(slices), data) << "parts " << parts;
    EXPECT_EQ(slices[0].first_line, 1);
    for (size_t i = 1; i < slices.size(); ++i) EXPECT_FALSE(slices[i].data.empty());
    EXPECT_EQ(ReadSlices(slices), whole) << "parts " << parts << " input: " << Escape(data);
  }
}

TEST(CsvSplitTest, NeverSplitsInsideAQuotedField) {
  // The midpoint (offset 8) is inside the quoted field on lines 2-6.
  const std::string data = "a\n\"x\ny\nz\nw\nv\"\nb\n";
  const std::vector<Slice> slices = internal::SplitAtRecordBoundaries(data, 1, 2, 1);
  ASSERT_EQ(slices.size(), 2u);
  EXPECT_EQ(slices[0].data, "a\n\"x\ny\nz\nw\nv\"\n");
  EXPECT_EQ(slices[0].first_line, 1);
  EXPECT_EQ(slices[1].data, "b\n");
  EXPECT_EQ(slices[1].first_line, 7);
}

TEST(CsvSplitTest, CarriesFirstLineNumbers) {
  const std::string data = "a\nb\r\nc\rd\ne\n";
  const std::vector<Slice> slices = internal::SplitAtRecordBoundaries(data, 20, 5, 1);
  ASSERT_EQ(slices.size(), 5u);
  EXPECT_EQ(slices[0].data, "a\n");
  EXPECT_EQ(slices[1].data, "b\r\n");  // never between CR and LF
  EXPECT_EQ(slices[2].data, "c\r");
  EXPECT_EQ(slices[3].data, "d\n");
  EXPECT_EQ(slices[4].data, "e\n");
  for (int i = 0; i < 5; ++i) EXPECT_EQ(slices[i].first_line, 20 + i) << i;
}

TEST(CsvSplitTest, ReturnsFewerSlicesWhenThereAreFewerRecords) {
  EXPECT_EQ(internal::SplitAtRecordBoundaries("a\nb\n", 1, 8, 1).size(), 2u);
  EXPECT_EQ(internal::SplitAtRecordBoundaries("\"one\nrecord\"\n", 1, 8, 1).size(), 1u);
  const std::vector<Slice> empty = internal::SplitAtRecordBoundaries("", 3, 4, 1);
  ASSERT_EQ(empty.size(), 1u);
  EXPECT_EQ(empty[0].data, "");
  EXPECT_EQ(empty[0].first_line, 3);
  EXPECT_EQ(internal::SplitAtRecordBoundaries("a\nb\n", 1, 0, 1).size(), 1u);
  EXPECT_EQ(internal::SplitAtRecordBoundaries("a\nb\n", 1, -3, 1).size(), 1u);
}

TEST(CsvSplitTest, ReturnsOneSliceForSmallData) {
  std::string data;
  for (int i = 0; i < 1000; ++i) absl::StrAppend(&data, i, ",x\n");
  const std::vector<Slice> slices = SplitAtRecordBoundaries(data, 2, 8);
  ASSERT_EQ(slices.size(), 1u);
  EXPECT_EQ(slices[0].data, data);
  EXPECT_EQ(slices[0].first_line, 2);
}

TEST(CsvSplitTest, SplitsLargeDataEvenly) {
  std::string data;
  for (int i = 0; data.size() < 4 * internal::kMinSliceBytes + 1000; ++i) {
    absl::StrAppend(&data, i, ",\"multi\nline ", i, "\",\"", i % 7 == 0 ? "q\"\"" : "", "\"\r\n");
  }
  const std::vector<Slice> slices = SplitAtRecordBoundaries(data, 2, 4);
  ASSERT_EQ(slices.size(), 4u);
  EXPECT_EQ(Join(slices), data);
  size_t offset = 0;
  for (const Slice& slice : slices) {
    EXPECT_GT(slice.data.size(), data.size() / 4 - 100);
    EXPECT_TRUE(absl::ascii_isdigit(slice.data[0])) << "starts mid-record at " << offset;
    // No lone CRs here: lines are counted by LFs.
    EXPECT_EQ(slice.first_line, 2 + std::count(data.begin(), data.begin() + offset, '\n'));
    offset += slice.data.size();
  }
  EXPECT_EQ(ReadSlices(slices), ReadAll(data, 2));
}

TEST(CsvSplitTest, SlicesReadLikeTheWhole) {
  const std::vector<std::string> inputs = {
      "",
      "a",
      "a\nb\nc\nd\ne\nf\n",
      "a\r\nb\r\nc\r\nd\r\n",
      "a\rb\rc\rd\r",
      "\n\n\n\n",
      "\"a\nb\",c\n\"d\ne\nf\"\ng,\"h\"\"\n\"\n",
      "\xEF\xBB\xBF\"bom\nquoted\"\nx\ny\n",
      // Malformed input: splits follow the Reader's error recovery, so a stray
      // quote does not flip the quote state for the rest of the file.
      "x\"y\nline2\nline3\n\"line\n4\"\nline5\n",
      "\"a\"b\"\nc\nd\"\ne\nf\n",
      "a,\"b\"\"\nc\nd\ne",
      "ok\n\"unterminated\nx\ny\nz\n",
      "\"\"\"\n\"\n\"\"\n\"\"\"\n,\"\n,\n",
  };
  for (const std::string& input : inputs) {
    SCOPED_TRACE(Escape(input));
    CheckSplits(input, 8);
  }
}

TEST(CsvSplitTest, RandomDataReadsLikeTheWhole) {
  // Random records (well-formed, written by AppendRecord) and random bytes.
  std::mt19937 rng(20240229);
  constexpr std::string_view kAlphabet = "ab,\"\n\r ";
  for (int round = 0; round < 300; ++round) {
    std::string data;
    const int records = rng() % 30;
    for (int r = 0; r < records; ++r) {
      std::vector<std::string> values(1 + rng() % 4);
      for (std::string& v : values) {
        for (int n = rng() % 6; n > 0; --n) v += kAlphabet[rng() % kAlphabet.size()];
      }
      if (round % 2 == 0) {
        AppendRecord(&data, std::vector<std::string_view>(values.begin(), values.end()));
      } else {
        for (const std::string& v : values) data += v;
      }
    }
    SCOPED_TRACE(Escape(data));
    CheckSplits(data, 6);
    if (HasFailure()) break;
  }
}

}  // namespace
}  // namespace harmonia::csv
