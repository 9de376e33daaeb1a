// Two network interfaces wired back to back in memory: what one end transmits the other
// end receives, copied as a real link would.
#pragma once

#include <pumice/net.hpp>

namespace nettest {

class WireEnd : public pumice::net::Driver {
  public:
    void connect(pumice::net::Interface* peer) { peer_ = peer; }
    bool transmit(const pumice::net::Frame& frame) override;
    uint64_t frames() const { return frames_; }

  private:
    pumice::net::Interface* peer_ = nullptr;
    uint64_t frames_ = 0;
};

}  // namespace nettest
