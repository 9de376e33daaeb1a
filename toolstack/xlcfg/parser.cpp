// A hand-written lexer and recursive-descent parser for the grammar of xl.cfg(5) as libxlu
// accepts it. Recursion happens only for nested lists and is bounded by kMaxListNesting.
#include "toolstack/xlcfg/parser.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <iterator>
#include <utility>

#include "base/unique_fd.hpp"

namespace xenolith::xlcfg {

std::string Position::to_string() const {
    if (line == 0) return file;
    return file + ":" + std::to_string(line) + ":" + std::to_string(column);
}

ConfigError::ConfigError(const Position& where, std::string_view message)
    : Error(where.to_string() + ": " + std::string(message)), position_(where), message_(message) {}

namespace {

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}
bool is_lower(char c) {
    return c >= 'a' && c <= 'z';
}
bool is_alpha(char c) {
    return is_lower(c) || (c >= 'A' && c <= 'Z');
}
bool is_hex(char c) {
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
bool is_octal(char c) {
    return c >= '0' && c <= '7';
}
bool is_word_char(char c) {
    return is_alpha(c) || is_digit(c) || c == '_' || c == '.' || c == '-';
}

std::string quoted(std::string_view text) {
    return "'" + printable(text) + "'";
}

// Decimal, 0x hexadecimal or 0-prefixed octal, as strtol(..., 0) reads them, with no
// sign, space or trailing text.
enum class NumberBase { Invalid, Decimal, Hex, Octal };

NumberBase number_base(std::string_view s) {
    if (s.empty() || !is_digit(s[0])) return NumberBase::Invalid;
    if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
        return std::ranges::all_of(s.substr(2), is_hex) ? NumberBase::Hex : NumberBase::Invalid;
    if (s.size() > 1 && s[0] == '0')
        return std::ranges::all_of(s, is_octal) ? NumberBase::Octal : NumberBase::Invalid;
    return std::ranges::all_of(s, is_digit) ? NumberBase::Decimal : NumberBase::Invalid;
}

enum class Tok {
    Word,    // a run of letters, digits, '_', '.', '-' starting with a letter or '_'
    Number,  // a well-formed number; its spelling is kept
    String,  // a quoted string, decoded
    Other,   // anything else that is not punctuation: kept for the error message
    LBracket,
    RBracket,
    Comma,
    Assign,
    Append,
    Semicolon,
    Newline,
    End,
};

struct Token {
    Tok kind = Tok::End;
    std::string text;
    Position pos;
};

std::string describe(const Token& t) {
    switch (t.kind) {
        case Tok::Word:
        case Tok::Other:
            return quoted(t.text);
        case Tok::Number:
            return "number " + t.text;
        case Tok::String:
            return "string \"" + printable(t.text) + "\"";
        case Tok::LBracket:
            return "'['";
        case Tok::RBracket:
            return "']'";
        case Tok::Comma:
            return "','";
        case Tok::Assign:
            return "'='";
        case Tok::Append:
            return "'+='";
        case Tok::Semicolon:
            return "';'";
        case Tok::Newline:
            return "end of line";
        case Tok::End:
            return "end of file";
    }
    return "?";
}

// Escapes that stand for one character: the letter after '\' and the character.
constexpr std::array<std::pair<char, char>, 10> kSimpleEscapes{{
    {'"', '"'},
    {'\'', '\''},
    {'\\', '\\'},
    {'a', '\a'},
    {'b', '\b'},
    {'f', '\f'},
    {'n', '\n'},
    {'r', '\r'},
    {'t', '\t'},
    {'v', '\v'},
}};

class Lexer {
public:
    Lexer(std::string_view text, const std::string& file) : text_(text), file_(file) {}

    Token next() {
        for (;;) {
            if (at_end()) return {Tok::End, {}, end_of_last_token()};
            const char c = text_[pos_];
            if (c == ' ' || c == '\t' || c == '\r') {
                advance();
            } else if (c == '\\') {
                if (!skip_continuation())
                    fail(here(),
                         "stray '\\' outside a string (a line continuation must be "
                         "the last character on its line)");
            } else if (c == '#') {
                while (!at_end() && text_[pos_] != '\n') advance();
            } else {
                break;
            }
        }

        const Position start = here();
        const char c = text_[pos_];
        Token t{Tok::End, {}, start};
        switch (c) {
            case '\n':
                t = {Tok::Newline, {}, end_of_last_token()};
                advance();
                return t;
            case '[':
                t.kind = Tok::LBracket;
                break;
            case ']':
                t.kind = Tok::RBracket;
                break;
            case ',':
                t.kind = Tok::Comma;
                break;
            case ';':
                t.kind = Tok::Semicolon;
                break;
            case '=':
                t.kind = Tok::Assign;
                break;
            case '+':
                if (pos_ + 1 < text_.size() && text_[pos_ + 1] == '=') {
                    advance();
                    t.kind = Tok::Append;
                    break;
                }
                return other(start);
            case '"':
            case '\'':
                return string(start);
            default:
                if (is_digit(c)) return number(start);
                if (is_alpha(c) || c == '_') return word(start);
                return other(start);
        }
        advance();
        finish_token();
        return t;
    }

private:
    bool at_end() const { return pos_ >= text_.size(); }
    Position here() const { return {file_, line_, column_}; }

    [[noreturn]] static void fail(const Position& where, std::string_view message) {
        throw ConfigError(where, message);
    }

    void advance() {
        if (text_[pos_] == '\n') {
            ++line_;
            column_ = 1;
        } else {
            ++column_;
        }
        ++pos_;
    }

    // A backslash ending its line joins the next line to it (outside and inside strings).
    bool skip_continuation() {
        std::size_t n = 1;
        if (pos_ + n < text_.size() && text_[pos_ + n] == '\r') ++n;
        if (pos_ + n >= text_.size() || text_[pos_ + n] != '\n') return false;
        for (std::size_t i = 0; i <= n; ++i) advance();
        return true;
    }

    // Newline and end-of-file tokens are placed just after the last real token on their
    // line, so that "expected a value" points at the gap, not past a trailing comment.
    Position end_of_last_token() const {
        if (have_last_ && last_end_.line == line_) return last_end_;
        return here();
    }
    void finish_token() {
        last_end_ = here();
        have_last_ = true;
    }

    Token word(const Position& start) {
        const std::size_t begin = pos_;
        while (!at_end() && is_word_char(text_[pos_])) advance();
        finish_token();
        return {Tok::Word, std::string(text_.substr(begin, pos_ - begin)), start};
    }

    Token number(const Position& start) {
        const std::size_t begin = pos_;
        while (!at_end() && (is_word_char(text_[pos_]))) advance();
        const std::string_view spelling = text_.substr(begin, pos_ - begin);
        if (spelling.find('.') != std::string_view::npos)
            fail(start, "invalid number " + quoted(spelling) +
                            ": xl.cfg has no fractional numbers (quote it if a string is meant)");
        if (number_base(spelling) == NumberBase::Invalid) {
            std::string message = "invalid number " + quoted(spelling);
            if (spelling.size() > 1 && spelling[0] == '0' && is_digit(spelling[1]))
                message += " (a leading 0 makes a number octal)";
            else
                message += " (numbers are decimal, 0x hexadecimal or 0 octal; quote strings)";
            fail(start, message);
        }
        finish_token();
        return {Tok::Number, std::string(spelling), start};
    }

    // Text that is no token of the grammar, up to the next space or punctuation.
    Token other(const Position& start) {
        const std::size_t begin = pos_;
        advance();
        while (!at_end()) {
            const char c = text_[pos_];
            if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == ',' || c == ';' ||
                c == '[' || c == ']' || c == '=' || c == '#' || c == '"' || c == '\'')
                break;
            advance();
        }
        finish_token();
        return {Tok::Other, std::string(text_.substr(begin, pos_ - begin)), start};
    }

    // The escapes of libxlu: \" \' \\ \a \b \f \n \r \t \v, \xHH and octal \ooo.
    Token string(const Position& start) {
        const char quote = text_[pos_];
        advance();
        std::string out;
        for (;;) {
            if (at_end() || text_[pos_] == '\n')
                fail(start,
                     "unterminated string: a string must end on the line where it starts "
                     "(end a line with '\\' to continue it)");
            const char c = text_[pos_];
            if (c == quote) {
                advance();
                break;
            }
            if (c != '\\') {
                out += c;
                advance();
                continue;
            }
            const Position escape = here();
            if (skip_continuation()) continue;
            advance();
            if (at_end() || text_[pos_] == '\n') continue;  // reported as unterminated
            const char e = text_[pos_];
            advance();
            unsigned value = 0;
            if (const auto simple =
                    std::ranges::find(kSimpleEscapes, e, &std::pair<char, char>::first);
                simple != kSimpleEscapes.end()) {
                value = static_cast<unsigned char>(simple->second);
            } else if (e == 'x') {
                if (pos_ + 2 > text_.size() || !is_hex(text_[pos_]) || !is_hex(text_[pos_ + 1]))
                    fail(escape, "'\\x' must be followed by two hexadecimal digits");
                std::from_chars(text_.data() + pos_, text_.data() + pos_ + 2, value, 16);
                advance();
                advance();
            } else if (is_octal(e)) {
                value = static_cast<unsigned>(e - '0');
                for (int i = 0; i < 2 && !at_end() && is_octal(text_[pos_]); ++i) {
                    value = value * 8 + static_cast<unsigned>(text_[pos_] - '0');
                    advance();
                }
                if (value > 0xff) fail(escape, "octal escape is larger than '\\377'");
            } else {
                fail(escape, "unknown escape " + quoted(std::string("\\") + e) +
                                 " in string (use '\\\\' for a backslash)");
            }
            if (value == 0) fail(escape, "a string may not contain a NUL character");
            out += static_cast<char>(value);
        }
        finish_token();
        return {Tok::String, std::move(out), start};
    }

    std::string_view text_;
    const std::string& file_;
    std::size_t pos_ = 0;
    unsigned line_ = 1;
    unsigned column_ = 1;
    Position last_end_;
    bool have_last_ = false;
};

struct Statement {
    Setting setting;
    bool append = false;
};

// Keys as libxlu lexes them: [a-z][._0-9a-z]*.
bool is_valid_key(std::string_view key) {
    return !key.empty() && is_lower(key[0]) && std::ranges::all_of(key, [](char c) {
        return is_lower(c) || is_digit(c) || c == '_' || c == '.';
    });
}

class Parser {
public:
    Parser(std::string_view text, const std::string& file) : lexer_(text, file) { advance(); }

    std::vector<Statement> statements() {
        std::vector<Statement> out;
        for (;;) {
            while (tok_.kind == Tok::Newline || tok_.kind == Tok::Semicolon) advance();
            if (tok_.kind == Tok::End) return out;
            out.push_back(statement());
        }
    }

private:
    [[noreturn]] static void fail(const Position& where, std::string_view message) {
        throw ConfigError(where, message);
    }

    void advance() { tok_ = lexer_.next(); }
    void skip_newlines() {
        while (tok_.kind == Tok::Newline) advance();
    }
    bool at_value() const {
        return tok_.kind == Tok::String || tok_.kind == Tok::Number || tok_.kind == Tok::LBracket;
    }
    std::string got() const {
        std::string s = ", got " + describe(tok_);
        if (tok_.kind == Tok::Word || tok_.kind == Tok::Other) s += " (strings must be quoted)";
        return s;
    }

    Statement statement() {
        if (tok_.kind != Tok::Word)
            fail(tok_.pos, "expected a setting 'KEY = VALUE', got " + describe(tok_));
        Statement st;
        st.setting.key = tok_.text;
        st.setting.pos = tok_.pos;
        if (!is_valid_key(st.setting.key))
            fail(tok_.pos, "invalid key " + quoted(st.setting.key) +
                               ": a key is lower-case letters, digits, '_' and '.', "
                               "starting with a letter");
        advance();
        if (tok_.kind == Tok::Append) {
            st.append = true;
        } else if (tok_.kind != Tok::Assign) {
            fail(tok_.pos, "expected '=' after '" + st.setting.key + "', got " + describe(tok_));
        }
        const char* op = st.append ? "+=" : "=";
        advance();
        if (!at_value()) fail(tok_.pos, std::string("expected a value after '") + op + "'" + got());
        st.setting.value = value(0);
        if (tok_.kind != Tok::Newline && tok_.kind != Tok::Semicolon && tok_.kind != Tok::End)
            fail(tok_.pos,
                 "expected a newline or ';' after the value of '" + st.setting.key + "'" + got());
        return st;
    }

    Value value(unsigned depth) {
        Value v;
        v.pos = tok_.pos;
        if (tok_.kind == Tok::String || tok_.kind == Tok::Number) {
            v.kind = tok_.kind == Tok::String ? Value::Kind::String : Value::Kind::Number;
            v.text = std::move(tok_.text);
            advance();
            return v;
        }
        // tok_ is '[' (the callers check at_value()).
        if (depth >= kMaxListNesting)
            fail(tok_.pos, "lists are nested too deeply (the limit is " +
                               std::to_string(kMaxListNesting) + " levels)");
        v.kind = Value::Kind::List;
        const std::string opened = std::to_string(v.pos.line) + ":" + std::to_string(v.pos.column);
        advance();
        skip_newlines();
        while (tok_.kind != Tok::RBracket) {
            if (!at_value())
                fail(tok_.pos,
                     "expected a list item or ']' in the list opened at " + opened + got());
            v.items.push_back(value(depth + 1));
            skip_newlines();
            if (tok_.kind == Tok::Comma) {
                advance();
                skip_newlines();
            } else if (tok_.kind != Tok::RBracket) {
                fail(tok_.pos, "expected ',' or ']' in the list opened at " + opened + got());
            }
        }
        advance();
        return v;
    }

    Lexer lexer_;
    Token tok_;
};

std::string kind_name(const Value& v) {
    switch (v.kind) {
        case Value::Kind::String:
            return "a string";
        case Value::Kind::Number:
            return "a number";
        case Value::Kind::List:
            return "a list";
    }
    return "?";
}

void check_size_and_bytes(std::string_view text, const std::string& file) {
    if (text.size() > kMaxConfigBytes)
        throw ConfigError(Position{file, 0, 0},
                          "the configuration is " + std::to_string(text.size()) +
                              " bytes; the limit is " + std::to_string(kMaxConfigBytes));
    const std::size_t nul = text.find('\0');
    if (nul == std::string_view::npos) return;
    Position at{file, 1, 1};
    for (std::size_t i = 0; i < nul; ++i) {
        if (text[i] == '\n') {
            ++at.line;
            at.column = 1;
        } else {
            ++at.column;
        }
    }
    throw ConfigError(at, "NUL byte in the configuration (is this a text file?)");
}

}  // namespace

std::string printable(std::string_view text) {
    constexpr std::size_t kMaxShown = 40;
    std::string out;
    for (std::size_t i = 0; i < text.size() && i < kMaxShown; ++i) {
        auto c = static_cast<unsigned char>(text[i]);
        if (c >= 0x20 && c < 0x7f) {
            out += static_cast<char>(c);
        } else {
            constexpr std::string_view kHex = "0123456789abcdef";
            out += "\\x";
            out += kHex[c >> 4];
            out += kHex[c & 0xf];
        }
    }
    if (text.size() > kMaxShown) out += "...";
    return out;
}

bool parse_number(std::string_view spelling, unsigned long long& out) {
    int base = 10;
    switch (number_base(spelling)) {
        case NumberBase::Invalid:
            return false;
        case NumberBase::Decimal:
            break;
        case NumberBase::Hex:
            base = 16;
            spelling.remove_prefix(2);
            break;
        case NumberBase::Octal:
            base = 8;
            break;
    }
    const char* end = spelling.data() + spelling.size();
    auto [ptr, ec] = std::from_chars(spelling.data(), end, out, base);
    return ec == std::errc() && ptr == end;
}

void Config::store(Setting setting, bool append) {
    const auto found = index_.find(setting.key);
    if (found == index_.end()) {
        if (append && setting.value.is_number())
            throw ConfigError(setting.value.pos, "'+=' cannot be used with numbers");
        index_.emplace(setting.key, settings_.size());
        settings_.push_back(std::move(setting));
        return;
    }
    Setting& old = settings_[found->second];
    if (!append) {
        old = std::move(setting);
        return;
    }
    // xl's `+=`: concatenate strings, or append the items of a list.
    if (setting.value.is_number() || old.value.is_number())
        throw ConfigError(setting.value.pos, "'+=' cannot be used with numbers ('" + setting.key +
                                                 "' is " + kind_name(old.value) + ", set at " +
                                                 old.pos.to_string() + ")");
    if (setting.value.kind != old.value.kind)
        throw ConfigError(setting.value.pos, "cannot append " + kind_name(setting.value) + " to '" +
                                                 setting.key + "', which is " +
                                                 kind_name(old.value) + " (set at " +
                                                 old.pos.to_string() + ")");
    if (old.value.is_string()) {
        old.value.text += setting.value.text;
    } else {
        old.value.items.insert(old.value.items.end(),
                               std::make_move_iterator(setting.value.items.begin()),
                               std::make_move_iterator(setting.value.items.end()));
    }
    old.value.pos = setting.value.pos;
    old.pos = setting.pos;
}

const Setting* Config::find(std::string_view key) const {
    const auto found = index_.find(key);
    return found == index_.end() ? nullptr : &settings_[found->second];
}

Config Config::parse(std::string_view text, std::string file_name) {
    Config config;
    config.file_name_ = std::move(file_name);
    check_size_and_bytes(text, config.file_name_);
    for (Statement& st : Parser(text, config.file_name_).statements())
        config.store(std::move(st.setting), st.append);
    return config;
}

void Config::apply_override(std::string_view key_eq_value) {
    static const std::string kCommandLine = "<command line>";
    check_size_and_bytes(key_eq_value, kCommandLine);
    std::vector<Statement> statements = Parser(key_eq_value, kCommandLine).statements();
    if (statements.empty())
        throw ConfigError(
            Position{kCommandLine, 1, 1},
            "expected a setting 'KEY=VALUE', got " +
                (key_eq_value.empty() ? std::string("nothing") : quoted(key_eq_value)));
    // Apply to a copy so that a failing override leaves this config untouched.
    Config updated = *this;
    for (Statement& st : statements) updated.store(std::move(st.setting), st.append);
    *this = std::move(updated);
}

Config Config::load(const std::string& path) {
    const Position where{path, 0, 0};
    auto fail = [&](const std::string& what, int err) {
        throw ConfigError(where, what + ": " + std::strerror(err));
    };
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) fail("cannot open the configuration file", errno);
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) fail("cannot stat the configuration file", errno);
    if (!S_ISREG(st.st_mode)) throw ConfigError(where, "the configuration is not a regular file");
    if (static_cast<unsigned long long>(st.st_size) > kMaxConfigBytes)
        throw ConfigError(where, "the configuration is " + std::to_string(st.st_size) +
                                     " bytes; the limit is " + std::to_string(kMaxConfigBytes));
    // Read one byte past the limit in case the file grows under us.
    std::string text(kMaxConfigBytes + 1, '\0');
    std::size_t got = 0;
    while (got < text.size()) {
        const ssize_t n = ::read(fd.get(), text.data() + got, text.size() - got);
        if (n < 0) {
            if (errno == EINTR) continue;
            fail("cannot read the configuration file", errno);
        }
        if (n == 0) break;
        got += static_cast<std::size_t>(n);
    }
    text.resize(got);
    return parse(text, path);
}

}  // namespace xenolith::xlcfg
