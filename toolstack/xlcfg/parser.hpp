// The xl.cfg(5) syntax: `KEY = VALUE` settings whose values are strings, numbers or
// (nested) lists, every one remembering where it was written. What the keys mean is
// domain_config.hpp's business; this file only knows the grammar.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.hpp"

namespace xenolith::xlcfg {

// Where something was written. Lines and columns count from 1; a column counts bytes,
// so a tab is one column. line == 0 means "no particular place" (e.g. a missing key).
struct Position {
    std::string file;
    unsigned line = 0;
    unsigned column = 0;

    // "file:line:column", or just "file" when line == 0.
    std::string to_string() const;
};

// A configuration the user must fix. what() is "<file>:<line>:<column>: <message>", or
// "<file>: <message>" for faults that have no place in the text (a missing file or key).
class ConfigError : public Error {
public:
    ConfigError(const Position& where, std::string_view message);
    const Position& position() const { return position_; }
    const std::string& message() const { return message_; }

private:
    Position position_;
    std::string message_;
};

struct Value {
    enum class Kind { String, Number, List };

    Kind kind = Kind::String;
    // String: the contents with escapes decoded. Number: the spelling as written
    // ("512", "0x200", "0755"); see parse_number() for its value.
    std::string text;
    std::vector<Value> items;  // List only
    Position pos;              // the first character of the value ('[' for a list)

    bool is_string() const { return kind == Kind::String; }
    bool is_number() const { return kind == Kind::Number; }
    bool is_list() const { return kind == Kind::List; }
};

struct Setting {
    std::string key;
    Value value;
    Position pos;  // the key of the assignment that last set or appended to it
};

// Limits that keep hostile input cheap: a config (or one override) larger than this is
// refused, and lists may nest only this deep (xl's deepest real use, vnuma=, needs 2).
inline constexpr std::size_t kMaxConfigBytes = 1024 * 1024;
inline constexpr unsigned kMaxListNesting = 16;

// The value of a number as xl reads it (strtol base 0): decimal, 0x hexadecimal, or
// octal with a leading 0. False if `spelling` is none of these or exceeds 64 bits.
bool parse_number(std::string_view spelling, unsigned long long& out);

// User text made safe to quote in a one-line message: bytes outside printable ASCII
// become \xHH and text past 40 bytes is cut short with "...".
std::string printable(std::string_view text);

class Config {
public:
    // Parses a whole file's text; `file_name` is used in positions and messages.
    static Config parse(std::string_view text, std::string file_name);
    // Reads and parses `path`; a file that cannot be read is a ConfigError naming it.
    static Config load(const std::string& path);

    // What `xl create cfg 'KEY=VALUE'` does: parses `key_eq_value` with the same grammar
    // (values quoted as in the file; several settings may be separated by ';') and
    // applies it after the file's settings. Positions name "<command line>".
    void apply_override(std::string_view key_eq_value);

    // The setting of `key`, or nullptr. After `k = a` then `k = b` this is `k = b`.
    const Setting* find(std::string_view key) const;
    // One entry per key, in the order keys first appeared.
    const std::vector<Setting>& settings() const { return settings_; }
    std::string file_name() const { return file_name_; }

private:
    // Applies one parsed assignment: `=` replaces, `+=` appends (as xl).
    void store(Setting setting, bool append);

    std::string file_name_;
    std::vector<Setting> settings_;
    std::map<std::string, std::size_t, std::less<>> index_;
};

}  // namespace xenolith::xlcfg
