// Tests of the Java .properties reader against java.util.Properties.load: the three separators, comments, blank
// lines, continuation lines, escapes (\t \n \uXXXX \= \: \\ and surrogate pairs), line endings, and a malformed
// \u escape refused with its line number.
#include "vltava/broker/properties_file.h"

#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

namespace vltava::broker {
namespace {

std::vector<property> entries(std::string_view text) {
  auto result = parse_properties(text);
  EXPECT_TRUE(result.ok()) << result.error;
  return result.entries;
}

TEST(PropertiesFileTest, SeparatorsEqualsColonAndBlank) {
  EXPECT_EQ(entries("a=1\nb: 2\nc 3\nd\t=\t4\ne   :five\n"),
            (std::vector<property>{{"a", "1", 1}, {"b", "2", 2}, {"c", "3", 3}, {"d", "4", 4}, {"e", "five", 5}}));
}

TEST(PropertiesFileTest, OnlyTheFirstSeparatorSplits) {
  EXPECT_EQ(entries("url=http://host:80/a=b\nk v=w\n"),
            (std::vector<property>{{"url", "http://host:80/a=b", 1}, {"k", "v=w", 2}}));
}

TEST(PropertiesFileTest, KeyWithoutValueIsEmpty) {
  EXPECT_EQ(entries("lonely\nalso=\n"), (std::vector<property>{{"lonely", "", 1}, {"also", "", 2}}));
}

TEST(PropertiesFileTest, CommentsAndBlankLinesAreSkipped) {
  EXPECT_EQ(entries("# comment\n  ! another\n\n   \t\nk=v # not a comment\n"),
            (std::vector<property>{{"k", "v # not a comment", 5}}));
}

TEST(PropertiesFileTest, LeadingBlanksAreSkippedTrailingBlanksKept) {
  EXPECT_EQ(entries("   key =  value  \n"), (std::vector<property>{{"key", "value  ", 1}}));
}

TEST(PropertiesFileTest, ContinuationLinesJoinWithoutLeadingBlanks) {
  EXPECT_EQ(entries("list=a,\\\n    b,\\\n\tc\nnext=1\n"),
            (std::vector<property>{{"list", "a,b,c", 1}, {"next", "1", 4}}));
}

TEST(PropertiesFileTest, EvenNumberOfBackslashesDoesNotContinue) {
  EXPECT_EQ(entries("path=C:\\\\\nnext=1\n"), (std::vector<property>{{"path", "C:\\", 1}, {"next", "1", 2}}));
}

TEST(PropertiesFileTest, CommentEndingInBackslashDoesNotContinue) {
  EXPECT_EQ(entries("# comment \\\nk=v\n"), (std::vector<property>{{"k", "v", 2}}));
}

TEST(PropertiesFileTest, ContinuationOnTheLastLineDropsTheBackslash) {
  EXPECT_EQ(entries("k=v\\"), (std::vector<property>{{"k", "v", 1}}));
}

TEST(PropertiesFileTest, ContinuationFollowedByBlankLineEndsTheValue) {
  EXPECT_EQ(entries("k=v\\\n\nnext=1\n"), (std::vector<property>{{"k", "v", 1}, {"next", "1", 3}}));
}

TEST(PropertiesFileTest, ContinuedLineStartingWithHashIsContent) {
  EXPECT_EQ(entries("k=a\\\n  #b\n"), (std::vector<property>{{"k", "a#b", 1}}));
}

TEST(PropertiesFileTest, Escapes) {
  EXPECT_EQ(entries("tab=a\\tb\nnl=a\\nb\ncr=\\r\nff=\\f\nother=\\q\\\\\n"),
            (std::vector<property>{
                {"tab", "a\tb", 1}, {"nl", "a\nb", 2}, {"cr", "\r", 3}, {"ff", "\f", 4}, {"other", "q\\", 5}}));
}

TEST(PropertiesFileTest, EscapedSeparatorsBelongToTheKey) {
  EXPECT_EQ(entries("a\\=b=c\nx\\:y:z\nsp\\ ace=1\n"),
            (std::vector<property>{{"a=b", "c", 1}, {"x:y", "z", 2}, {"sp ace", "1", 3}}));
}

TEST(PropertiesFileTest, EscapedLeadingBlankInValueIsKept) {
  EXPECT_EQ(entries("k=\\ v\n"), (std::vector<property>{{"k", " v", 1}}));
}

TEST(PropertiesFileTest, UnicodeEscapesBecomeUtf8) {
  EXPECT_EQ(entries("a=\\u0041\nb=\\u00e9\nc=\\u20AC\nd=\\uD83D\\uDE00\ne=\\uDE00\n"),
            (std::vector<property>{{"a", "A", 1},
                                   {"b", "\xC3\xA9", 2},
                                   {"c", "\xE2\x82\xAC", 3},
                                   {"d", "\xF0\x9F\x98\x80", 4},
                                   {"e", "\xEF\xBF\xBD", 5}}));
}

TEST(PropertiesFileTest, RawUtf8PassesThrough) {
  EXPECT_EQ(entries("name=Vltava \xC5\xBE\n"), (std::vector<property>{{"name", "Vltava \xC5\xBE", 1}}));
}

TEST(PropertiesFileTest, MalformedUnicodeEscapeIsRefusedWithItsLine) {
  auto result = parse_properties("ok=1\nbad=\\u12G4\n");
  EXPECT_FALSE(result.ok());
  EXPECT_NE(result.error.find("line 2"), std::string::npos) << result.error;
  EXPECT_NE(result.error.find("\\uXXXX"), std::string::npos) << result.error;
  EXPECT_FALSE(parse_properties("short=\\u12").ok());
}

TEST(PropertiesFileTest, LineEndingsCrLfAndCr) {
  EXPECT_EQ(entries("a=1\r\nb=2\rc=3\r\n"), (std::vector<property>{{"a", "1", 1}, {"b", "2", 2}, {"c", "3", 3}}));
  EXPECT_EQ(entries("a=x\\\r\n  y\r\n"), (std::vector<property>{{"a", "xy", 1}}));
}

TEST(PropertiesFileTest, RepeatedKeysAreAllReported) {
  EXPECT_EQ(entries("k=1\nk=2\n"), (std::vector<property>{{"k", "1", 1}, {"k", "2", 2}}));
}

TEST(PropertiesFileTest, EmptyTextHasNoEntries) {
  EXPECT_TRUE(entries("").empty());
  EXPECT_TRUE(entries("\n\n# only comments\n").empty());
}

TEST(PropertiesFileTest, ReadsFromAStream) {
  std::istringstream in("a=1\nb=2");
  auto result = read_properties(in);
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result.entries, (std::vector<property>{{"a", "1", 1}, {"b", "2", 2}}));
}

}  // namespace
}  // namespace vltava::broker
