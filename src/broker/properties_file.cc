// The Java .properties reader: logical lines first (comments, continuations), then key and value split and
// unescaped, following java.util.Properties.load step by step.
#include "vltava/broker/properties_file.h"

#include <cstdint>
#include <istream>
#include <iterator>
#include <optional>

namespace vltava::broker {
namespace {

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\f'; }
bool is_line_end(char c) { return c == '\n' || c == '\r'; }

// Walks the text natural line by natural line, counting lines for messages.
class line_cursor {
 public:
  explicit line_cursor(std::string_view text) : text_(text) {}

  bool at_end() const { return pos_ >= text_.size(); }
  int line() const { return line_; }

  void skip_blanks() {
    while (!at_end() && is_blank(text_[pos_])) ++pos_;
  }
  char peek() const { return text_[pos_]; }

  // The rest of the current natural line, consuming its terminator (\n, \r or \r\n).
  std::string_view take_rest_of_line() {
    const auto start = pos_;
    while (!at_end() && !is_line_end(text_[pos_])) ++pos_;
    const auto content = text_.substr(start, pos_ - start);
    if (!at_end()) {
      if (text_[pos_] == '\r' && pos_ + 1 < text_.size() && text_[pos_ + 1] == '\n') ++pos_;
      ++pos_;
      ++line_;
    }
    return content;
  }

 private:
  std::string_view text_;
  std::size_t pos_ = 0;
  int line_ = 1;
};

// Joins continued natural lines into one logical line: the backslash that continues a line is dropped, and so are
// the leading blanks of the line after it.
std::string read_logical_line(line_cursor& cursor) {
  std::string logical;
  while (true) {
    std::string_view content = cursor.take_rest_of_line();
    std::size_t backslashes = 0;
    while (backslashes < content.size() && content[content.size() - 1 - backslashes] == '\\') ++backslashes;
    if (backslashes % 2 == 0) {
      logical.append(content);
      return logical;
    }
    logical.append(content.substr(0, content.size() - 1));
    if (cursor.at_end()) return logical;  // a continuation on the last line: Java drops the backslash
    cursor.skip_blanks();
  }
}

void append_utf8(std::string& out, std::uint32_t code_point) {
  if (code_point < 0x80) {
    out.push_back(static_cast<char>(code_point));
  } else if (code_point < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (code_point >> 6)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else if (code_point < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (code_point >> 12)));
    out.push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (code_point >> 18)));
    out.push_back(static_cast<char>(0x80 | ((code_point >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  }
}

// The four hex digits of a \u escape starting at text[at], if they are there.
std::optional<std::uint32_t> hex4(std::string_view text, std::size_t at) {
  if (at + 4 > text.size()) return std::nullopt;
  std::uint32_t value = 0;
  for (std::size_t i = at; i < at + 4; ++i) {
    const char c = text[i];
    std::uint32_t digit = 0;
    if (c >= '0' && c <= '9') {
      digit = static_cast<std::uint32_t>(c - '0');
    } else if (c >= 'a' && c <= 'f') {
      digit = static_cast<std::uint32_t>(c - 'a' + 10);
    } else if (c >= 'A' && c <= 'F') {
      digit = static_cast<std::uint32_t>(c - 'A' + 10);
    } else {
      return std::nullopt;
    }
    value = value * 16 + digit;
  }
  return value;
}

bool is_high_surrogate(std::uint32_t u) { return u >= 0xD800 && u <= 0xDBFF; }
bool is_low_surrogate(std::uint32_t u) { return u >= 0xDC00 && u <= 0xDFFF; }

// Properties.loadConvert: resolves escapes. False for a malformed \uXXXX.
bool unescape(std::string_view text, std::string& out) {
  out.clear();
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\\') {
      out.push_back(text[i]);
      continue;
    }
    if (++i == text.size()) break;  // cannot happen after line joining; a lone trailing backslash stands for nothing
    switch (const char c = text[i]) {
      case 't': out.push_back('\t'); break;
      case 'n': out.push_back('\n'); break;
      case 'r': out.push_back('\r'); break;
      case 'f': out.push_back('\f'); break;
      case 'u': {
        const auto unit = hex4(text, i + 1);
        if (!unit) return false;
        i += 4;
        std::uint32_t code_point = *unit;
        if (is_high_surrogate(code_point)) {
          // Java strings are UTF-16: an escaped surrogate pair is one character.
          const auto low =
              (i + 2 < text.size() && text[i + 1] == '\\' && text[i + 2] == 'u') ? hex4(text, i + 3) : std::nullopt;
          if (low && is_low_surrogate(*low)) {
            code_point = 0x10000 + ((code_point - 0xD800) << 10) + (*low - 0xDC00);
            i += 6;
          } else {
            code_point = 0xFFFD;
          }
        } else if (is_low_surrogate(code_point)) {
          code_point = 0xFFFD;
        }
        append_utf8(out, code_point);
        break;
      }
      default: out.push_back(c);
    }
  }
  return true;
}

// Properties.load0: where the key ends and the value starts in a logical line.
void split_key_value(std::string_view line, std::string_view& key, std::string_view& value) {
  std::size_t key_end = 0;
  std::size_t value_start = line.size();
  bool has_separator = false;
  bool preceding_backslash = false;
  for (; key_end < line.size(); ++key_end) {
    const char c = line[key_end];
    if ((c == '=' || c == ':') && !preceding_backslash) {
      value_start = key_end + 1;
      has_separator = true;
      break;
    }
    if (is_blank(c) && !preceding_backslash) {
      value_start = key_end + 1;
      break;
    }
    preceding_backslash = (c == '\\') ? !preceding_backslash : false;
  }
  for (; value_start < line.size(); ++value_start) {
    const char c = line[value_start];
    if (is_blank(c)) continue;
    if (!has_separator && (c == '=' || c == ':')) {
      has_separator = true;
      continue;
    }
    break;
  }
  key = line.substr(0, key_end);
  value = line.substr(value_start);
}

}  // namespace

properties_result parse_properties(std::string_view text) {
  properties_result result;
  line_cursor cursor(text);
  while (!cursor.at_end()) {
    const int line = cursor.line();
    cursor.skip_blanks();
    if (cursor.at_end()) break;
    if (const char first = cursor.peek(); first == '#' || first == '!' || is_line_end(first)) {
      cursor.take_rest_of_line();  // a comment never continues, even when it ends in a backslash
      continue;
    }
    const std::string logical = read_logical_line(cursor);
    std::string_view raw_key;
    std::string_view raw_value;
    split_key_value(logical, raw_key, raw_value);
    property entry;
    entry.line = line;
    if (!unescape(raw_key, entry.key) || !unescape(raw_value, entry.value)) {
      result.error = "line " + std::to_string(line) + ": malformed \\uXXXX escape (four hex digits must follow \\u)";
      return result;
    }
    result.entries.push_back(std::move(entry));
  }
  return result;
}

properties_result read_properties(std::istream& in) {
  const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  if (in.bad()) return {{}, "reading failed"};
  return parse_properties(text);
}

}  // namespace vltava::broker
