// Little-endian fields of a record body: a writer that appends them and a reader that takes
// them in order and refuses to run past the body's end (a StreamError at the record's
// offset), so that a decoder never reads what the body does not hold.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "state/byte_stream.hpp"

namespace xenolith::state {

class BodyWriter {
  public:
    template <class T>
    BodyWriter& put(T value) {
        const size_t at = bytes_.size();
        bytes_.resize(at + sizeof value);
        std::memcpy(bytes_.data() + at, &value, sizeof value);  // x86 hosts: little-endian
        return *this;
    }
    BodyWriter& put_bytes(std::span<const uint8_t> b) {
        bytes_.insert(bytes_.end(), b.begin(), b.end());
        return *this;
    }
    // A u32 length, then the bytes.
    BodyWriter& put_string(std::string_view s) {
        put(static_cast<uint32_t>(s.size()));
        return put_bytes({reinterpret_cast<const uint8_t*>(s.data()), s.size()});
    }
    const std::vector<uint8_t>& bytes() const { return bytes_; }

  private:
    std::vector<uint8_t> bytes_;
};

class BodyReader {
  public:
    // `what` names the record in errors ("a VCPU record").
    BodyReader(std::span<const uint8_t> body, uint64_t offset, const char* what)
        : body_(body), offset_(offset), what_(what) {}
    template <class T>
    T take() {
        T value;
        std::memcpy(&value, need(sizeof value), sizeof value);
        return value;
    }
    void take_bytes(std::span<uint8_t> out) {
        std::memcpy(out.data(), need(out.size()), out.size());
    }
    // put_string's form; a length past the body's end is refused before anything is taken.
    std::string take_string() {
        const auto n = take<uint32_t>();
        const uint8_t* p = need(n);
        return std::string(reinterpret_cast<const char*>(p), n);
    }
    size_t left() const { return body_.size() - at_; }
    // The body must be used up exactly.
    void finish() const {
        if (at_ != body_.size()) fail(std::to_string(body_.size() - at_) + " bytes too many");
    }
    [[noreturn]] void fail(const std::string& why) const {
        throw StreamError(offset_, std::string(what_) + ": " + why);
    }

  private:
    const uint8_t* need(size_t n) {
        if (n > body_.size() - at_) fail("the body ends early");
        const uint8_t* p = body_.data() + at_;
        at_ += n;
        return p;
    }
    std::span<const uint8_t> body_;
    uint64_t offset_;
    const char* what_;
    size_t at_ = 0;
};

}  // namespace xenolith::state
