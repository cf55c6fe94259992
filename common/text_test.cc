#include "common/text.h"

#include <gtest/gtest.h>

#include <string>

#include "common/strings.h"

namespace harmonia {
namespace {

TEST(FoldForSearch, LowersAsciiAndLatin1Capitals) {
  EXPECT_EQ(FoldForSearch("Dr. MÜLLER, Ängström ÉCOLE Ñ × ß"), "dr. müller, ängström école ñ × ß");
  EXPECT_EQ(FoldForSearch("ΑΒΓ"), "ΑΒΓ") << "other scripts as they are";
  EXPECT_EQ(FoldForSearch(std::string("\xC3", 1)), std::string("\xC3", 1)) << "a cut sequence";
}

TEST(Text, ValidUtf8IsText) {
  for (const std::string s : {"", "plain ascii, 12345", "Müller", "Früher Anwender", "日本語",
                              "emoji \xF0\x9F\x98\x80", "\xEF\xBF\xBF", "\xF4\x8F\xBF\xBF",
                              "long ascii run then é: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaé"}) {
    EXPECT_TRUE(IsText(s)) << s;
    EXPECT_EQ(WhyNotText(s), "") << s;
  }
}

TEST(Text, EveryKindOfBadByteIsFoundWhereItIs) {
  struct Case {
    std::string text;
    size_t at;
  };
  for (const Case& c : std::initializer_list<Case>{
           {std::string("ab\0c", 4), 2},  // NUL
           {"abcdefghij\xFF", 10},        // invalid lead byte after the fast path
           {"M\xFCller", 1},              // Latin-1, not UTF-8
           {"\xC0\xAF", 0},               // overlong '/'
           {"\xE0\x80\xAF", 0},           // overlong
           {"\xED\xA0\x80", 0},           // surrogate U+D800
           {"\xF4\x90\x80\x80", 0},       // above U+10FFFF
           {"ok \xE2\x82", 3},            // truncated at the end
           {"\xE2\x28\xA1", 0},           // bad continuation
           {"\x80", 0},                   // a lone continuation byte
       }) {
    EXPECT_EQ(FirstNonTextByte(c.text), c.at) << Echo(c.text);
    EXPECT_FALSE(IsText(c.text));
  }
  EXPECT_EQ(WhyNotText("M\xFCller"), "not UTF-8 text: byte 0xFC at position 2 is not valid UTF-8");
  EXPECT_EQ(WhyNotText(std::string("id\0", 3)), "a NUL byte at position 3");
}

TEST(Text, EchoIsBoundedAndAlwaysText) {
  EXPECT_EQ(Echo("D001"), "D001");
  EXPECT_EQ(Echo("M\xFCller"), "M\\xFCller");
  EXPECT_EQ(Echo(std::string("a\0b", 3)), "a\\x00b");
  const std::string huge(9000, 'x');
  const std::string echoed = Echo(huge);
  EXPECT_EQ(echoed, std::string(kMaxEcho, 'x') + "…(9000 bytes)");
  EXPECT_TRUE(IsText(echoed));
  // A cut never splits a character.
  const std::string umlauts = std::string(63, 'a') + "ü" + std::string(10, 'b');
  EXPECT_EQ(Echo(umlauts), std::string(63, 'a') + "…(75 bytes)");
  EXPECT_EQ(Quoted(huge).size(), kMaxEcho + 2 + std::string("…(9000 bytes)").size());
}

}  // namespace
}  // namespace harmonia
