// Arbitrary bytes through the whole xl.cfg path: parse, a command-line override, and the
// typed conversion, which runs every disk= spec through libxlutil's parser and every vif=
// spec through ours. A ConfigError is the expected answer to bad input; any other exception,
// a crash or a sanitizer report is a bug.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "toolstack/xlcfg/domain_config.hpp"
#include "toolstack/xlcfg/parser.hpp"

using xenolith::xlcfg::Config;
using xenolith::xlcfg::ConfigError;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    try {
        Config config = Config::parse(text, "fuzz.cfg");
        (void)xenolith::xlcfg::to_domain_config(config);
    } catch (const ConfigError&) {
    }
    // The same bytes as a command-line override of a small valid config, so that `+=` and
    // replacement meet real earlier settings.
    try {
        Config config = Config::parse(
            "name = 'f'\nkernel = 'k'\nextra = 'a'\ndisk = ['/x,raw,xvda']\n"
            "vif = ['forward=8080:80']\n",
            "base.cfg");
        config.apply_override(text);
        (void)xenolith::xlcfg::to_domain_config(config);
    } catch (const ConfigError&) {
    }
    return 0;
}
