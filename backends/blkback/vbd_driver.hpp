// blkback's side of the xenbus handshake: the features it publishes for an image, and the
// frontend's ring, channel and options read at connect time (ring-ref or
// ring-page-order + ring-ref0..N-1, event-channel, protocol, feature-persistent), as
// Linux's xen-blkback reads them. The data path itself is BlkConnection.
#pragma once

#include <optional>

#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "backends/blkback/blk_connection.hpp"
#include "backends/blkback/image.hpp"
#include "backends/xenbus/backend_device.hpp"
#include "hv/domain.hpp"

namespace xenolith::blkback {

class VbdDriver : public backends::xenbus::Driver {
  public:
    VbdDriver(std::shared_ptr<hv::Domain> domain, std::shared_ptr<Image> image,
              BlkConnection::Options opts, std::string name);
    ~VbdDriver() override;

    std::vector<std::pair<std::string, std::string>> features() override;
    void connect(const backends::xenbus::FrontendNodes& frontend) override;
    void disconnect() override;
    void quiesce() override;
    void resume() override;

    const Image& image() const { return *image_; }
    // The counters of the current connection plus those of earlier ones.
    BlkConnection::Stats stats() const;
    bool connected() const;

    // What connect() reads, exposed for tests: throws Error naming the bad node.
    static FrontendRing read_frontend(const backends::xenbus::FrontendNodes& frontend,
                                      uint32_t max_ring_page_order);

  private:
    std::shared_ptr<hv::Domain> domain_;
    std::shared_ptr<Image> image_;
    BlkConnection::Options opts_;
    std::string name_;
    mutable std::mutex mutex_;  // conn_, past_
    std::unique_ptr<BlkConnection> conn_;
    std::optional<FrontendRing> ring_;  // the ring connect() read, while quiesced
    BlkConnection::Stats past_;
};

}  // namespace xenolith::blkback
