#include "backends/blkback/io_engine.hpp"

#include <cstdlib>
#include <string_view>

#include "backends/blkback/uring_engine.hpp"
#include "backends/blkback/worker_engine.hpp"
#include "base/error.hpp"

namespace xenolith::blkback {

IoEngineKind io_engine_kind_from_env() {
    const char* value = std::getenv("XENOLITH_BLK_IO");
    if (!value || !*value) return IoEngineKind::Auto;
    std::string_view v(value);
    if (v == "uring") return IoEngineKind::Uring;
    if (v == "worker") return IoEngineKind::Worker;
    if (v == "auto") return IoEngineKind::Auto;
    throw Error("XENOLITH_BLK_IO=" + std::string(v) + " is not one of uring, worker, auto");
}

const char* to_string(IoEngineKind kind) {
    switch (kind) {
        case IoEngineKind::Uring:
            return "uring";
        case IoEngineKind::Worker:
            return "worker";
        case IoEngineKind::Auto:
            break;
    }
    return "auto";
}

std::unique_ptr<IoEngine> make_io_engine(std::shared_ptr<const Image> image, IoEngineKind kind,
                                         unsigned depth) {
    if (kind == IoEngineKind::Auto) kind = io_engine_kind_from_env();
    if (kind == IoEngineKind::Worker) return std::make_unique<WorkerEngine>(std::move(image));
    if (kind == IoEngineKind::Uring) return std::make_unique<UringEngine>(std::move(image), depth);
    try {
        return std::make_unique<UringEngine>(image, depth);
    } catch (const SystemError&) {
        return std::make_unique<WorkerEngine>(std::move(image));
    }
}

}  // namespace xenolith::blkback
