// coordinator_partition_for must agree with a Java broker: abs(groupId.hashCode()) % partitions with Kafka's
// Utils.abs (x & 0x7fffffff), the hash over UTF-16 code units of the id as `new String(bytes, UTF_8)` decodes it.
//
// Every expected value below was obtained by running JDK 17 (javac/java on the development machine) on
//   String s = new String(bytes, StandardCharsets.UTF_8);
//   int h = s.hashCode();  System.out.println((h & 0x7fffffff) % partitions);
// for the UTF-8 bytes of each id. The decoder was also compared with the JDK on 200,000 random byte strings (biased
// to lead, continuation and invalid bytes) with no difference; the malformed cases kept here pin each replacement
// rule.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "vltava/broker/group/group_store.h"

namespace vltava::broker::group {
namespace {

struct java_case {
  std::string id;
  std::int32_t partition_of_50;
  std::int32_t partition_of_7;
  std::int32_t partition_of_1000;
};

void expect_java(const java_case& c) {
  SCOPED_TRACE("group id bytes: \"" + c.id + "\"");
  EXPECT_EQ(coordinator_partition_for(c.id, 50), c.partition_of_50);
  EXPECT_EQ(coordinator_partition_for(c.id, 7), c.partition_of_7);
  EXPECT_EQ(coordinator_partition_for(c.id, 1000), c.partition_of_1000);
  EXPECT_EQ(coordinator_partition_for(c.id, 1), 0);
}

TEST(CoordinatorPartition, AsciiIdsMatchJava) {
  // "my-group".hashCode() == -1906497762: negative, so Math.abs (12 of 50) and Utils.abs (36 of 50) differ.
  expect_java({"my-group", 36, 1, 886});
  expect_java({"console-consumer-12345", 6, 6, 506});  // hashCode 158455506
  expect_java({"a", 47, 6, 97});                       // hashCode 97
}

TEST(CoordinatorPartition, EmptyIdIsPartitionZero) { expect_java({"", 0, 0, 0}); }

TEST(CoordinatorPartition, HashOfIntegerMinValueMapsToZero) {
  // "polygenelubricants".hashCode() == Integer.MIN_VALUE (-2147483648). Java's Math.abs would leave it negative
  // (-48 of 50); Kafka's Utils.abs gives 0.
  expect_java({"polygenelubricants", 0, 0, 0});
}

TEST(CoordinatorPartition, NonAsciiIdsHashUtf16CodeUnits) {
  expect_java({"gr\xC3\xBCppe-\xC3\xA9t\xC3\xA9", 7, 0, 157});  // "grüppe-été", hashCode 2066613157
  expect_java({"\xE7\xBB\x84\xE7\xBE\xA4", 38, 0, 688});        // "组群" (U+7EC4 U+7FA4), hashCode 1038688
  expect_java({"\xE0\xA0\x80\xEF\xBF\xBF", 23, 6, 23});         // U+0800 U+FFFF, hashCode 129023
  expect_java({"\xED\x9F\xBF", 45, 2, 295});                    // U+D7FF, the last code point before surrogates
}

TEST(CoordinatorPartition, CodePointsAboveBmpHashAsSurrogatePairs) {
  expect_java({"emoji-\xF0\x9F\x98\x80-group", 26, 6, 476});  // U+1F600 = D83D DE00, hashCode -1581567172
  expect_java({"\xF0\x9F\x9A\x80", 27, 4, 27});               // U+1F680 = D83D DE80, hashCode 1773027
  expect_java({"\xF4\x8F\xBF\xBF", 32, 4, 232});              // U+10FFFF = DBFF DFFF, hashCode 1803232
}

TEST(CoordinatorPartition, InvalidUtf8IsReplacedAsJavaDecodesIt) {
  // Java's decoder turns malformed input into U+FFFD (hash contribution 65533), by the rules documented in
  // coordinator_partition.cc. Units Java produced are in the comments.
  expect_java({"\xFF", 33, 6, 533});  // FFFD
  expect_java(
      {"a\x80"
       "b",
       38, 2, 838});                    // 0061 FFFD 0062: a stray continuation byte
  expect_java({"\xC0\xAF", 6, 3, 56});  // FFFD FFFD: overlong lead, then a stray continuation
  expect_java({"\xC3", 33, 6, 533});    // FFFD: a 2-byte sequence cut off by the end
  expect_java(
      {"\xC3"
       "A",
       38, 6, 588});                      // FFFD 0041: resumes at the non-continuation byte
  expect_java({"\xE2\x82", 33, 6, 533});  // FFFD: a 3-byte sequence cut off by the end
  expect_java(
      {"\xE2\x82"
       "a",
       20, 3, 620});                          // FFFD 0061: two bytes replaced, resumes at 'a'
  expect_java({"\xE0\x80", 6, 3, 56});        // FFFD FFFD: overlong second byte, seen before the end
  expect_java({"\xE0\x80\x80", 19, 1, 269});  // FFFD FFFD FFFD: overlong 3-byte form, byte by byte
  expect_java({"\xED\xA0\x80", 33, 6, 533});  // FFFD: an encoded surrogate is one replacement
  expect_java({"\xEF\xBF\xBD", 33, 6, 533});  // U+FFFD itself, valid: same hash as a replacement
  expect_java({"\xF0\x9F\x98", 33, 6, 533});  // FFFD: a 4-byte sequence cut off by the end
  expect_java(
      {"\xF0\x9F"
       "A",
       38, 6, 588});                                  // FFFD 0041: cut off, resumes at the non-continuation
  expect_java({"\xF0\x80\x80\x80", 22, 2, 872});      // FFFD x4: overlong 4-byte form
  expect_java({"\xF4\x90\x80\x80", 22, 2, 872});      // FFFD x4: beyond U+10FFFF
  expect_java({"\xF8\x88\x80\x80\x80", 23, 3, 773});  // FFFD x5: F8 never starts UTF-8
}

TEST(CoordinatorPartition, AlwaysWithinRange) {
  for (const std::string id : {"my-group", "polygenelubricants", "", "\xFF\xFE", "x"}) {
    for (const std::int32_t partitions : {1, 2, 3, 50, 97, 2147483647}) {
      const auto p = coordinator_partition_for(id, partitions);
      EXPECT_GE(p, 0) << id << " of " << partitions;
      EXPECT_LT(p, partitions) << id << " of " << partitions;
    }
  }
  // "my-group": (-1906497762 & 0x7fffffff) = 240985886, below Integer.MAX_VALUE.
  EXPECT_EQ(coordinator_partition_for("my-group", 2147483647), 240985886);
}

}  // namespace
}  // namespace vltava::broker::group
