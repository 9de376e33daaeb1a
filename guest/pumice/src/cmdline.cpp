// Command-line parsing: the raw text is copied once and cut into key=value pairs.
#include <pumice/cmdline.hpp>
#include <pumice/string.hpp>

namespace pumice::cmdline {
namespace {

constexpr unsigned kMaxPairs = 64;
constexpr size_t kMaxLength = 1024;

char g_raw[kMaxLength + 1];
char g_parsed[kMaxLength + 1];
struct Pair {
    const char* key;
    const char* value;
};
Pair g_pairs[kMaxPairs];
unsigned g_count;

const char* find(const char* key) {
    // The last occurrence wins, as with most command lines.
    for (unsigned i = g_count; i-- > 0;) {
        if (strcmp(g_pairs[i].key, key) == 0) return g_pairs[i].value;
    }
    return nullptr;
}

bool parse_u64(const char* s, uint64_t& out) {
    unsigned base = 10;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) base = 16, s += 2;
    if (!*s) return false;
    uint64_t v = 0;
    for (; *s; ++s) {
        unsigned d;
        if (*s >= '0' && *s <= '9')
            d = *s - '0';
        else if (base == 16 && *s >= 'a' && *s <= 'f')
            d = *s - 'a' + 10;
        else if (base == 16 && *s >= 'A' && *s <= 'F')
            d = *s - 'A' + 10;
        else
            return false;
        if (__builtin_mul_overflow(v, base, &v) || __builtin_add_overflow(v, d, &v)) return false;
    }
    out = v;
    return true;
}

}  // namespace

void init(const char* raw, unsigned long max_len) {
    size_t len = strnlen(raw, max_len < kMaxLength ? max_len : kMaxLength);
    memcpy(g_raw, raw, len);
    g_raw[len] = '\0';
    memcpy(g_parsed, raw, len);
    g_parsed[len] = '\0';

    char* p = g_parsed;
    while (*p && g_count < kMaxPairs) {
        while (*p == ' ' || *p == '\t') *p++ = '\0';
        if (!*p) break;
        char* key = p;
        while (*p && *p != ' ' && *p != '\t' && *p != '=') ++p;
        const char* value = "";
        if (*p == '=') {
            *p++ = '\0';
            value = p;
            while (*p && *p != ' ' && *p != '\t') ++p;
        }
        if (*p) *p++ = '\0';
        g_pairs[g_count++] = Pair{key, value};
    }
}

const char* raw() {
    return g_raw;
}
bool has(const char* key) {
    return find(key) != nullptr;
}

const char* get_str(const char* key, const char* fallback) {
    const char* v = find(key);
    return v ? v : fallback;
}

uint64_t get_u64(const char* key, uint64_t fallback) {
    const char* v = find(key);
    uint64_t out;
    return v && parse_u64(v, out) ? out : fallback;
}

int64_t get_i64(const char* key, int64_t fallback) {
    const char* v = find(key);
    if (!v) return fallback;
    bool negative = *v == '-';
    uint64_t out;
    if (!parse_u64(negative ? v + 1 : v, out)) return fallback;
    return negative ? -static_cast<int64_t>(out) : static_cast<int64_t>(out);
}

uint64_t get_scaled(const char* key, uint64_t scale, uint64_t fallback) {
    const char* v = find(key);
    if (!v || !*v) return fallback;
    uint64_t whole = 0, frac = 0, frac_div = 1;
    const char* s = v;
    for (; *s >= '0' && *s <= '9'; ++s) whole = whole * 10 + (*s - '0');
    if (*s == '.') {
        for (++s; *s >= '0' && *s <= '9'; ++s) {
            if (frac_div < 1000000000) frac = frac * 10 + (*s - '0'), frac_div *= 10;
        }
    }
    if (*s || s == v) return fallback;
    return whole * scale + frac * scale / frac_div;
}

}  // namespace pumice::cmdline
