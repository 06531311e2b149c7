// Reads Java .properties text the way java.util.Properties.load does, so that a Kafka server.properties file means
// the same to Vltava as to Kafka:
//
//   - `key=value`, `key: value` and `key value` (the first unescaped '=', ':' or blank ends the key; blanks and one
//     '=' or ':' after it are skipped);
//   - comment lines start with '#' or '!' after optional blanks; blank lines are skipped;
//   - a line ending in an odd number of backslashes continues on the next one, whose leading blanks are dropped;
//   - escapes in keys and values: \t \n \r \f, \uXXXX (written out as UTF-8; a surrogate pair makes one character),
//     and a backslash before any other character stands for that character (`\=`, `\:`, `\ `, `\\`, `\#`).
//
// Bytes other than escapes pass through unchanged, so a UTF-8 file stays UTF-8 (Java would read it as ISO-8859-1;
// the ASCII that server.properties files hold reads the same either way). Values keep trailing blanks, as in Java;
// the configuration layer trims them as Kafka's ConfigDef does.
#pragma once

#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

namespace vltava::broker {

struct property {
  std::string key;
  std::string value;
  int line = 0;  // 1-based line where the entry starts
  bool operator==(const property&) const = default;
};

struct properties_result {
  std::vector<property> entries;  // in file order; a repeated key appears each time (the last one wins)
  std::string error;              // a malformed \uXXXX escape, naming the line (Java refuses the whole file too)
  bool ok() const noexcept { return error.empty(); }
};

properties_result parse_properties(std::string_view text);
properties_result read_properties(std::istream& in);

}  // namespace vltava::broker
