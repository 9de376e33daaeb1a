// The xl.cfg grammar: value kinds, layout, duplicates, `+=`, overrides, positions, and every
// syntax error with its exact file:line:column.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "toolstack/xlcfg/parser.hpp"

namespace xenolith::xlcfg {
namespace {

Config parse(std::string_view text) {
    return Config::parse(text, "t.cfg");
}

// what() of the ConfigError that parsing `text` throws, or "no error".
std::string error_of(std::string_view text) {
    try {
        Config::parse(text, "t.cfg");
    } catch (const ConfigError& e) {
        return e.what();
    }
    return "no error";
}

std::string override_error(Config& config, std::string_view text) {
    try {
        config.apply_override(text);
    } catch (const ConfigError& e) {
        return e.what();
    }
    return "no error";
}

const Value& value_of(const Config& c, std::string_view key) {
    const Setting* s = c.find(key);
    EXPECT_NE(s, nullptr) << key;
    static const Value kNone;
    return s ? s->value : kNone;
}

TEST(XlcfgValues, DoubleAndSingleQuotedStrings) {
    Config c = parse("a = \"hello world\"\nb = 'it'\nc = \"\"\nd = 'say \"hi\"'\n");
    EXPECT_EQ(value_of(c, "a").kind, Value::Kind::String);
    EXPECT_EQ(value_of(c, "a").text, "hello world");
    EXPECT_EQ(c.settings().size(), 4u);
    EXPECT_EQ(value_of(c, "c").text, "");
    EXPECT_EQ(value_of(c, "d").text, "say \"hi\"");
}

TEST(XlcfgValues, AdjacentStringsAreAnError) {
    // xl has no implicit concatenation: 'it''s' is two values.
    EXPECT_EQ(error_of("b = 'it''s'\n"),
              "t.cfg:1:9: expected a newline or ';' after the value of 'b', got string \"s\"");
}

TEST(XlcfgValues, EscapesAsLibxluDecodesThem) {
    Config c = parse(R"(s = "q\" s\' b\\ a\a b\b f\f n\n r\r t\t v\v x\x41\x7e o\101\7\18")"
                     "\n");
    EXPECT_EQ(value_of(c, "s").text, "q\" s' b\\ a\a b\b f\f n\n r\r t\t v\v xA~ oA\a\0018");
    Config single = parse(R"(s = 'don\'t "\t"')");
    EXPECT_EQ(value_of(single, "s").text, "don't \"\t\"");
}

TEST(XlcfgValues, NumbersKeepTheirSpelling) {
    Config c = parse("a = 512\nb = 0x200\nc = 0X1fF\nd = 0755\ne = 0\n");
    EXPECT_EQ(value_of(c, "a").kind, Value::Kind::Number);
    EXPECT_EQ(value_of(c, "a").text, "512");
    EXPECT_EQ(value_of(c, "b").text, "0x200");
    EXPECT_EQ(value_of(c, "c").text, "0X1fF");
    EXPECT_EQ(value_of(c, "d").text, "0755");
    EXPECT_EQ(value_of(c, "e").text, "0");
}

TEST(XlcfgValues, ParseNumberReadsDecimalHexAndOctalAsStrtolBaseZero) {
    unsigned long long n = 0;
    ASSERT_TRUE(parse_number("512", n));
    EXPECT_EQ(n, 512u);
    ASSERT_TRUE(parse_number("0x200", n));
    EXPECT_EQ(n, 512u);
    ASSERT_TRUE(parse_number("0X1F", n));
    EXPECT_EQ(n, 31u);
    ASSERT_TRUE(parse_number("0755", n));
    EXPECT_EQ(n, 0755u);
    ASSERT_TRUE(parse_number("0", n));
    EXPECT_EQ(n, 0u);
    ASSERT_TRUE(parse_number("18446744073709551615", n));
    EXPECT_EQ(n, ~0ULL);
    EXPECT_FALSE(parse_number("18446744073709551616", n));
    EXPECT_FALSE(parse_number("", n));
    EXPECT_FALSE(parse_number("0x", n));
    EXPECT_FALSE(parse_number("08", n));
    EXPECT_FALSE(parse_number("-1", n));
    EXPECT_FALSE(parse_number(" 1", n));
    EXPECT_FALSE(parse_number("1k", n));
}

TEST(XlcfgValues, Lists) {
    Config c = parse("empty = []\none = [ \"a\" ]\nmixed = [\"a\", 1, 'b']\ntrail = [1, 2,]\n");
    EXPECT_EQ(value_of(c, "empty").kind, Value::Kind::List);
    EXPECT_TRUE(value_of(c, "empty").items.empty());
    ASSERT_EQ(value_of(c, "one").items.size(), 1u);
    EXPECT_EQ(value_of(c, "one").items[0].text, "a");
    const Value& mixed = value_of(c, "mixed");
    ASSERT_EQ(mixed.items.size(), 3u);
    EXPECT_EQ(mixed.items[1].kind, Value::Kind::Number);
    EXPECT_EQ(mixed.items[2].text, "b");
    EXPECT_EQ(value_of(c, "trail").items.size(), 2u);
}

TEST(XlcfgValues, ListsSpanLinesWithCommentsAndBlankLines) {
    Config c = parse(
        "disk = [\n"
        "    'phy:/dev/vg/a,xvda,w',   # root\n"
        "\n"
        "    # a comment line inside the list\n"
        "    'phy:/dev/vg/b,xvdb,w'\n"
        "    ,\n"
        "]\n"
        "name = 'x'\n");
    const Value& disk = value_of(c, "disk");
    ASSERT_EQ(disk.items.size(), 2u);
    EXPECT_EQ(disk.items[0].text, "phy:/dev/vg/a,xvda,w");
    EXPECT_EQ(disk.items[1].text, "phy:/dev/vg/b,xvdb,w");
    EXPECT_EQ(value_of(c, "name").pos.line, 8u);
}

TEST(XlcfgValues, NestedListsAsVnumaUsesThem) {
    Config c = parse("vnuma = [ [\"pnode=0\", \"size=512\"], [\"pnode=1\", [ ] ] ]\n");
    const Value& v = value_of(c, "vnuma");
    ASSERT_EQ(v.items.size(), 2u);
    ASSERT_EQ(v.items[0].items.size(), 2u);
    EXPECT_EQ(v.items[0].items[1].text, "size=512");
    EXPECT_TRUE(v.items[1].items[1].is_list());
}

TEST(XlcfgLayout, CommentsBlankLinesAndWhitespace) {
    Config c = parse(
        "# leading comment\n"
        "\n"
        "   \t\n"
        "name='a'# no space before the comment\n"
        "\tmemory\t=\t512   # trailing\n"
        "# last line comment without a newline");
    EXPECT_EQ(c.settings().size(), 2u);
    EXPECT_EQ(value_of(c, "name").text, "a");
    EXPECT_EQ(value_of(c, "memory").text, "512");
}

TEST(XlcfgLayout, HashInsideAStringIsNotAComment) {
    Config c = parse("extra = 'console=hvc0 # not a comment'\n");
    EXPECT_EQ(value_of(c, "extra").text, "console=hvc0 # not a comment");
}

TEST(XlcfgLayout, SemicolonsSeparateSettings) {
    Config c = parse("name=\"h0\"; type=\"hvm\";;\nmemory=1;\n;\n");
    EXPECT_EQ(value_of(c, "name").text, "h0");
    EXPECT_EQ(value_of(c, "type").text, "hvm");
    EXPECT_EQ(value_of(c, "memory").text, "1");
}

TEST(XlcfgLayout, LastSettingNeedsNoNewline) {
    EXPECT_EQ(value_of(parse("memory = 5"), "memory").text, "5");
    EXPECT_TRUE(parse("").settings().empty());
    EXPECT_TRUE(parse("\n\n# only comments\n").settings().empty());
}

TEST(XlcfgLayout, CrLfLineEndings) {
    Config c = parse("name = 'a'\r\nmemory = 64\r\ndisk = [ 'x',\r\n 'y' ]\r\n");
    EXPECT_EQ(value_of(c, "memory").text, "64");
    EXPECT_EQ(value_of(c, "disk").items.size(), 2u);
    EXPECT_EQ(value_of(c, "disk").items[1].pos.line, 4u);
}

TEST(XlcfgLayout, BackslashContinuesALine) {
    Config c = parse("memory = \\\n  512\nname \\\n = 'a'\nb = 1\n");
    EXPECT_EQ(value_of(c, "memory").text, "512");
    EXPECT_EQ(value_of(c, "memory").pos.line, 2u);
    EXPECT_EQ(value_of(c, "name").text, "a");
    EXPECT_EQ(value_of(c, "b").pos.line, 5u);
}

TEST(XlcfgLayout, BackslashContinuesAString) {
    Config c = parse("extra = 'console=hvc0 \\\nroot=/dev/xvda1'\nnext = 1\n");
    EXPECT_EQ(value_of(c, "extra").text, "console=hvc0 root=/dev/xvda1");
    EXPECT_EQ(value_of(c, "next").pos.line, 3u);
    Config crlf = parse("extra = 'a\\\r\nb'\r\n");
    EXPECT_EQ(value_of(crlf, "extra").text, "ab");
}

TEST(XlcfgLayout, KeysMayHoldDigitsUnderscoresAndDots) {
    Config c = parse("cpus_soft = 'all'\nvif2.x_1 = 3\n");
    EXPECT_NE(c.find("cpus_soft"), nullptr);
    EXPECT_NE(c.find("vif2.x_1"), nullptr);
    EXPECT_EQ(c.find("cpus"), nullptr);
}

TEST(XlcfgDuplicates, LaterSettingReplacesEarlier) {
    Config c = parse("name = 'a'\nmemory = 128\nname = 'b'\n");
    ASSERT_EQ(c.settings().size(), 2u);
    EXPECT_EQ(c.settings()[0].key, "name");  // keeps the place of its first appearance
    EXPECT_EQ(value_of(c, "name").text, "b");
    EXPECT_EQ(c.find("name")->pos.line, 3u);
    EXPECT_EQ(value_of(c, "name").pos.line, 3u);
}

TEST(XlcfgDuplicates, ReplacementMayChangeTheKind) {
    Config c = parse("disk = ['a']\ndisk = 'b'\n");
    EXPECT_TRUE(value_of(c, "disk").is_string());
}

TEST(XlcfgAppend, PlusEqualsConcatenatesStrings) {
    Config c = parse("extra = 'console=hvc0'\nextra += ' quiet'\n");
    EXPECT_EQ(value_of(c, "extra").text, "console=hvc0 quiet");
    EXPECT_EQ(c.find("extra")->pos.line, 2u);
}

TEST(XlcfgAppend, PlusEqualsAppendsListItems) {
    Config c = parse("disk = ['a']\ndisk += ['b', 'c']\ndisk+=[]\n");
    const Value& disk = value_of(c, "disk");
    ASSERT_EQ(disk.items.size(), 3u);
    EXPECT_EQ(disk.items[0].pos.line, 1u);
    EXPECT_EQ(disk.items[2].text, "c");
    EXPECT_EQ(disk.items[2].pos.line, 2u);
}

TEST(XlcfgAppend, PlusEqualsWithoutEarlierSettingAssigns) {
    Config c = parse("extra += 'x'\n");
    EXPECT_EQ(value_of(c, "extra").text, "x");
}

TEST(XlcfgAppend, PlusEqualsRejectsNumbersAndMixedKinds) {
    EXPECT_EQ(error_of("memory = 1\nmemory += 2\n"),
              "t.cfg:2:11: '+=' cannot be used with numbers ('memory' is a number, set at "
              "t.cfg:1:1)");
    EXPECT_EQ(error_of("memory += 2\n"), "t.cfg:1:11: '+=' cannot be used with numbers");
    EXPECT_EQ(error_of("extra = 'a'\nextra += 2\n"),
              "t.cfg:2:10: '+=' cannot be used with numbers ('extra' is a string, set at "
              "t.cfg:1:1)");
    EXPECT_EQ(error_of("disk = ['a']\ndisk += 'b'\n"),
              "t.cfg:2:9: cannot append a string to 'disk', which is a list (set at t.cfg:1:1)");
    EXPECT_EQ(error_of("extra = 'a'\nextra += ['b']\n"),
              "t.cfg:2:10: cannot append a list to 'extra', which is a string (set at t.cfg:1:1)");
}

TEST(XlcfgPositions, SettingsValuesAndItemsRecordFileLineColumn) {
    Config c = parse("# header\n  memory =  512\ndisk = [ 'a',\n   'b' ]\n");
    const Setting* memory = c.find("memory");
    ASSERT_NE(memory, nullptr);
    EXPECT_EQ(memory->pos.file, "t.cfg");
    EXPECT_EQ(memory->pos.line, 2u);
    EXPECT_EQ(memory->pos.column, 3u);
    EXPECT_EQ(memory->value.pos.line, 2u);
    EXPECT_EQ(memory->value.pos.column, 13u);
    const Value& disk = value_of(c, "disk");
    EXPECT_EQ(disk.pos.to_string(), "t.cfg:3:8");
    EXPECT_EQ(disk.items[0].pos.to_string(), "t.cfg:3:10");
    EXPECT_EQ(disk.items[1].pos.to_string(), "t.cfg:4:4");
    EXPECT_EQ(c.file_name(), "t.cfg");
}

TEST(XlcfgPositions, PositionWithoutLinePrintsFileOnly) {
    EXPECT_EQ((Position{"a.cfg", 0, 0}).to_string(), "a.cfg");
    EXPECT_EQ((Position{"a.cfg", 2, 7}).to_string(), "a.cfg:2:7");
}

TEST(XlcfgErrors, ConfigErrorIsAnErrorWithPositionAndMessage) {
    try {
        Config::parse("memory =\n", "hello.cfg");
        FAIL() << "no error";
    } catch (const Error& e) {
        const auto* ce = dynamic_cast<const ConfigError*>(&e);
        ASSERT_NE(ce, nullptr);
        EXPECT_EQ(ce->position().to_string(), "hello.cfg:1:9");
        EXPECT_EQ(ce->message(), "expected a value after '=', got end of line");
        EXPECT_STREQ(e.what(), "hello.cfg:1:9: expected a value after '=', got end of line");
    }
}

TEST(XlcfgErrors, MissingValue) {
    EXPECT_EQ(error_of("name = 'a'\n\nmemory =   # oops\n"),
              "t.cfg:3:9: expected a value after '=', got end of line");
    EXPECT_EQ(error_of("memory ="), "t.cfg:1:9: expected a value after '=', got end of file");
    EXPECT_EQ(error_of("memory = ;"), "t.cfg:1:10: expected a value after '=', got ';'");
    EXPECT_EQ(error_of("extra += ]"), "t.cfg:1:10: expected a value after '+=', got ']'");
}

TEST(XlcfgErrors, UnquotedStringValue) {
    EXPECT_EQ(error_of("type = pvh\n"),
              "t.cfg:1:8: expected a value after '=', got 'pvh' (strings must be quoted)");
    EXPECT_EQ(error_of("kernel = /boot/vmlinuz\n"),
              "t.cfg:1:10: expected a value after '=', got '/boot/vmlinuz' (strings must be "
              "quoted)");
    EXPECT_EQ(error_of("cap = -5\n"),
              "t.cfg:1:7: expected a value after '=', got '-5' (strings must be quoted)");
}

TEST(XlcfgErrors, MissingEquals) {
    EXPECT_EQ(error_of("memory 512\n"), "t.cfg:1:8: expected '=' after 'memory', got number 512");
    EXPECT_EQ(error_of("memory\n"), "t.cfg:1:7: expected '=' after 'memory', got end of line");
    EXPECT_EQ(error_of("memory : 5\n"), "t.cfg:1:8: expected '=' after 'memory', got ':'");
}

TEST(XlcfgErrors, NotASetting) {
    EXPECT_EQ(error_of("\n  = 5\n"), "t.cfg:2:3: expected a setting 'KEY = VALUE', got '='");
    EXPECT_EQ(error_of("'name' = 5\n"),
              "t.cfg:1:1: expected a setting 'KEY = VALUE', got string \"name\"");
    EXPECT_EQ(error_of("5 = 5\n"), "t.cfg:1:1: expected a setting 'KEY = VALUE', got number 5");
}

TEST(XlcfgErrors, InvalidKeys) {
    const std::string rule =
        ": a key is lower-case letters, digits, '_' and '.', starting with a letter";
    EXPECT_EQ(error_of("Name = 'a'\n"), "t.cfg:1:1: invalid key 'Name'" + rule);
    EXPECT_EQ(error_of("_x = 1\n"), "t.cfg:1:1: invalid key '_x'" + rule);
    EXPECT_EQ(error_of("on-crash = 'x'\n"), "t.cfg:1:1: invalid key 'on-crash'" + rule);
}

TEST(XlcfgErrors, TwoSettingsOnALineNeedASemicolon) {
    EXPECT_EQ(error_of("a = 1 b = 2\n"),
              "t.cfg:1:7: expected a newline or ';' after the value of 'a', got 'b' (strings "
              "must be quoted)");
    EXPECT_EQ(error_of("a = 1 = 2\n"),
              "t.cfg:1:7: expected a newline or ';' after the value of 'a', got '='");
}

TEST(XlcfgErrors, UnterminatedStrings) {
    const std::string why =
        ": unterminated string: a string must end on the line where it starts (end a line "
        "with '\\' to continue it)";
    EXPECT_EQ(error_of("name = 'a\n'\n"), "t.cfg:1:8" + why);
    EXPECT_EQ(error_of("x = 1\nname = \"abc"), "t.cfg:2:8" + why);
    EXPECT_EQ(error_of("name = 'abc\\"), "t.cfg:1:8" + why);
    EXPECT_EQ(error_of("name = 'abc\\'"), "t.cfg:1:8" + why);
}

TEST(XlcfgErrors, BadEscapes) {
    EXPECT_EQ(error_of("s = 'ab\\qc'\n"),
              "t.cfg:1:8: unknown escape '\\q' in string (use '\\\\' for a backslash)");
    EXPECT_EQ(error_of("s = '\\x4'\n"),
              "t.cfg:1:6: '\\x' must be followed by two hexadecimal digits");
    EXPECT_EQ(error_of("s = '\\xg0'\n"),
              "t.cfg:1:6: '\\x' must be followed by two hexadecimal digits");
    EXPECT_EQ(error_of("s = 'a\\400'\n"), "t.cfg:1:7: octal escape is larger than '\\377'");
    EXPECT_EQ(error_of("s = 'a\\0b'\n"), "t.cfg:1:7: a string may not contain a NUL character");
    EXPECT_EQ(error_of("s = 'a\\x00'\n"), "t.cfg:1:7: a string may not contain a NUL character");
}

TEST(XlcfgErrors, NulByteInInput) {
    using namespace std::string_view_literals;
    EXPECT_EQ(error_of("a = 1\nb = '\0'\n"sv),
              "t.cfg:2:6: NUL byte in the configuration (is this a text file?)");
}

TEST(XlcfgErrors, InvalidNumbers) {
    EXPECT_EQ(error_of("weight = 1.5\n"),
              "t.cfg:1:10: invalid number '1.5': xl.cfg has no fractional numbers (quote it if "
              "a string is meant)");
    EXPECT_EQ(error_of("memory = 512M\n"),
              "t.cfg:1:10: invalid number '512M' (numbers are decimal, 0x hexadecimal or 0 "
              "octal; quote strings)");
    EXPECT_EQ(error_of("memory = 0x\n"),
              "t.cfg:1:10: invalid number '0x' (numbers are decimal, 0x hexadecimal or 0 octal; "
              "quote strings)");
    EXPECT_EQ(error_of("memory = 08\n"),
              "t.cfg:1:10: invalid number '08' (a leading 0 makes a number octal)");
}

TEST(XlcfgErrors, BrokenLists) {
    EXPECT_EQ(error_of("disk = ['a' 'b']\n"),
              "t.cfg:1:13: expected ',' or ']' in the list opened at 1:8, got string \"b\"");
    EXPECT_EQ(error_of("disk = ['a',\n 'b'\n"),
              "t.cfg:3:1: expected ',' or ']' in the list opened at 1:8, got end of file");
    EXPECT_EQ(error_of("disk = [,]\n"),
              "t.cfg:1:9: expected a list item or ']' in the list opened at 1:8, got ','");
    EXPECT_EQ(error_of("disk = ['a',,]\n"),
              "t.cfg:1:13: expected a list item or ']' in the list opened at 1:8, got ','");
    EXPECT_EQ(error_of("disk = ['a'; 'b']\n"),
              "t.cfg:1:12: expected ',' or ']' in the list opened at 1:8, got ';'");
    EXPECT_EQ(error_of("disk = 'a']\n"),
              "t.cfg:1:11: expected a newline or ';' after the value of 'disk', got ']'");
}

TEST(XlcfgErrors, NestingIsBounded) {
    const std::string ok =
        "v = " + std::string(kMaxListNesting, '[') + std::string(kMaxListNesting, ']') + "\n";
    EXPECT_NO_THROW(parse(ok));
    const std::string deep = "v = " + std::string(kMaxListNesting + 1, '[') +
                             std::string(kMaxListNesting + 1, ']') + "\n";
    EXPECT_EQ(error_of(deep), "t.cfg:1:21: lists are nested too deeply (the limit is 16 levels)");
    // Hostile depth fails fast at the limit instead of recursing a million times.
    const std::string hostile = "v = " + std::string(1000000, '[');
    EXPECT_EQ(error_of(hostile),
              "t.cfg:1:21: lists are nested too deeply (the limit is 16 levels)");
}

TEST(XlcfgErrors, StrayBackslash) {
    EXPECT_EQ(error_of("a = 1 \\ x\n"),
              "t.cfg:1:7: stray '\\' outside a string (a line continuation must be the last "
              "character on its line)");
}

TEST(XlcfgErrors, NonAsciiOutsideStrings) {
    EXPECT_EQ(error_of("a = \xc3\xa9\n"),
              "t.cfg:1:5: expected a value after '=', got '\\xc3\\xa9' (strings must be quoted)");
    Config c = parse("a = '\xc3\xa9'\n");
    EXPECT_EQ(value_of(c, "a").text, "\xc3\xa9");
}

TEST(XlcfgErrors, LongTextIsCutShortInMessages) {
    EXPECT_EQ(error_of("a = " + std::string(100, 'x') + "\n"),
              "t.cfg:1:5: expected a value after '=', got '" + std::string(40, 'x') +
                  "...' (strings must be quoted)");
}

TEST(XlcfgErrors, SizeIsBounded) {
    std::string big = "a = '" + std::string(kMaxConfigBytes, 'x') + "'\n";
    EXPECT_EQ(error_of(big), "t.cfg: the configuration is " + std::to_string(big.size()) +
                                 " bytes; the limit is 1048576");
    std::string fits = "a = '" + std::string(kMaxConfigBytes - 7, 'x') + "'\n";
    ASSERT_EQ(fits.size(), kMaxConfigBytes);
    EXPECT_EQ(value_of(parse(fits), "a").text.size(), kMaxConfigBytes - 7);
}

TEST(XlcfgOverride, ReplacesAddsAndAppends) {
    Config c = parse("name = 'a'\nmemory = 128\nextra = 'quiet'\n");
    c.apply_override("memory=512");
    c.apply_override("vcpus = 2; extra += ' debug'");
    c.apply_override("name=\"b\"");
    EXPECT_EQ(value_of(c, "memory").text, "512");
    EXPECT_EQ(value_of(c, "vcpus").text, "2");
    EXPECT_EQ(value_of(c, "extra").text, "quiet debug");
    EXPECT_EQ(value_of(c, "name").text, "b");
    EXPECT_EQ(c.find("memory")->pos.to_string(), "<command line>:1:1");
    EXPECT_EQ(value_of(c, "vcpus").pos.to_string(), "<command line>:1:9");
    EXPECT_EQ(c.file_name(), "t.cfg");
    EXPECT_EQ(c.settings().size(), 4u);
}

TEST(XlcfgOverride, ListsAsXlManualShows) {
    Config c = parse("");
    c.apply_override("cpus=\"0-3\"; pci=[\"01:05.1\",\"01:05.2\"]");
    EXPECT_EQ(value_of(c, "cpus").text, "0-3");
    EXPECT_EQ(value_of(c, "pci").items.size(), 2u);
}

TEST(XlcfgOverride, ErrorsNameTheCommandLineAndLeaveTheConfigUntouched) {
    Config c = parse("name = 'a'\n");
    EXPECT_EQ(override_error(c, "name=b"),
              "<command line>:1:6: expected a value after '=', got 'b' (strings must be quoted)");
    EXPECT_EQ(override_error(c, "memory"),
              "<command line>:1:7: expected '=' after 'memory', got end of file");
    EXPECT_EQ(override_error(c, ""),
              "<command line>:1:1: expected a setting 'KEY=VALUE', got nothing");
    EXPECT_EQ(override_error(c, " ; "),
              "<command line>:1:1: expected a setting 'KEY=VALUE', got ' ; '");
    // The first part is fine, the second fails: neither is applied.
    EXPECT_EQ(override_error(c, "name='z'; memory += 1"),
              "<command line>:1:21: '+=' cannot be used with numbers");
    EXPECT_EQ(value_of(c, "name").text, "a");
    EXPECT_EQ(c.find("memory"), nullptr);
}

class XlcfgLoad : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/xlcfg-test-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
    }
    void TearDown() override {
        for (const auto& f : files_) std::remove(f.c_str());
        ::rmdir(dir_.c_str());
    }
    std::string write(const std::string& name, const std::string& text) {
        std::string path = dir_ + "/" + name;
        std::ofstream(path, std::ios::binary) << text;
        files_.push_back(path);
        return path;
    }
    std::string dir_;
    std::vector<std::string> files_;
};

TEST_F(XlcfgLoad, ReadsAFileAndNamesItInPositions) {
    const std::string path = write("guest.cfg", "name = 'g'\nmemory =\n");
    try {
        Config::load(path);
        FAIL() << "no error";
    } catch (const ConfigError& e) {
        EXPECT_EQ(std::string(e.what()),
                  path + ":2:9: expected a value after '=', got end of line");
    }
    write("good.cfg", "name = 'g'\n");
    Config c = Config::load(dir_ + "/good.cfg");
    EXPECT_EQ(c.file_name(), dir_ + "/good.cfg");
    EXPECT_EQ(c.find("name")->pos.file, dir_ + "/good.cfg");
}

TEST_F(XlcfgLoad, MissingFileIsAConfigErrorNamingIt) {
    const std::string path = dir_ + "/absent.cfg";
    try {
        Config::load(path);
        FAIL() << "no error";
    } catch (const ConfigError& e) {
        EXPECT_EQ(std::string(e.what()),
                  path + ": cannot open the configuration file: No such file or directory");
    }
}

TEST_F(XlcfgLoad, DirectoryAndOversizedFilesAreRefused) {
    try {
        Config::load(dir_);
        FAIL() << "no error";
    } catch (const ConfigError& e) {
        EXPECT_EQ(std::string(e.what()), dir_ + ": the configuration is not a regular file");
    }
    const std::string big = write("big.cfg", std::string(kMaxConfigBytes + 1, '#'));
    try {
        Config::load(big);
        FAIL() << "no error";
    } catch (const ConfigError& e) {
        EXPECT_EQ(std::string(e.what()),
                  big + ": the configuration is 1048577 bytes; the limit is 1048576");
    }
}

}  // namespace
}  // namespace xenolith::xlcfg
