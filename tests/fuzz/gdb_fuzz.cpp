// Arbitrary bytes from "gdb" to the gdb server, with a fake target behind it. The first byte
// picks how the rest arrives: raw (framing, checksums and noise are fuzzed) or as lines, each
// framed as a well-formed packet (a line starting with 0x03 is sent as a bare Ctrl-C), which
// takes the fuzzer straight to request parsing. Input also arrives in pieces of a size the
// first byte picks, so packets split across reads. A crash, a sanitizer report, a hang or an
// unbounded allocation is a bug; error replies are the expected answer.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "tests/unit/vmi/fake_target.hpp"
#include "vmi/gdb/channel.hpp"
#include "vmi/gdb/gdb_server.hpp"
#include "vmi/gdb/packet.hpp"

using namespace xenolith::vmi::gdb;

namespace {

// Hands out the input in fixed-size pieces, then reports the peer gone; drops the output.
class MemoryChannel : public Channel {
  public:
    MemoryChannel(std::string input, size_t piece) : input_(std::move(input)), piece_(piece) {}

    std::optional<size_t> receive(std::span<uint8_t> buf, int) override {
        if (pos_ == input_.size()) return std::nullopt;
        size_t n = std::min({piece_, buf.size(), input_.size() - pos_});
        std::copy_n(input_.data() + pos_, n, buf.data());
        pos_ += n;
        return n;
    }
    bool send(std::string_view data) override {
        sent_ += data.size();
        return true;
    }

  private:
    std::string input_;
    size_t piece_;
    size_t pos_ = 0;
    size_t sent_ = 0;
};

std::string frame_lines(std::string_view text) {
    std::string out;
    while (!text.empty()) {
        size_t end = std::min(text.find('\n'), text.size());
        std::string_view line = text.substr(0, end);
        text.remove_prefix(std::min(end + 1, text.size()));
        if (!line.empty() && line[0] == '\x03')
            out += '\x03';
        else
            out += frame_packet(line);
    }
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    const uint8_t mode = data[0];
    std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
    std::string input = (mode & 1) ? std::string(rest) : frame_lines(rest);

    xenolith::vmi::gdb::testing::FakeTarget target;
    target.poll_sleep_us = 0;
    target.hw_supported = (mode & 2) != 0;
    MemoryChannel channel(std::move(input), 1 + (mode >> 2) * 17);
    GdbServer(target, channel).serve();
    return 0;
}
