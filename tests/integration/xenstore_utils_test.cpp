// Debian's xenstore-utils (xenstore-write, -read, -ls, -list, -exists, -rm, -chmod, -watch)
// run unchanged against our xenstored: a SocketServer started in-process on a temporary
// socket, the tools pointed at it with XENSTORED_PATH. No /dev/kvm needed; a missing tool
// fails the test (make deps installs xenstore-utils), it never skips.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "backends/xenstored/connection.hpp"
#include "backends/xenstored/socket_server.hpp"
#include "backends/xenstored/wire.hpp"
#include "backends/xenstored/xenstored.hpp"

extern char** environ;

namespace xenolith::xenstored {
namespace {

using Clock = std::chrono::steady_clock;

// A tool running with XENSTORED_PATH set; stdout and stderr are captured separately.
class Tool {
  public:
    Tool(const std::string& socket, std::vector<std::string> argv) {
        int out[2], err[2];
        EXPECT_EQ(::pipe2(out, O_CLOEXEC), 0);
        EXPECT_EQ(::pipe2(err, O_CLOEXEC), 0);
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, out[1], 1);
        posix_spawn_file_actions_adddup2(&fa, err[1], 2);
        std::vector<std::string> env_strings{"XENSTORED_PATH=" + socket};
        for (char** e = environ; *e; ++e) {
            if (std::strncmp(*e, "XENSTORED_PATH=", 15) != 0) env_strings.emplace_back(*e);
        }
        std::vector<char*> envp, args;
        for (auto& s : env_strings) envp.push_back(s.data());
        envp.push_back(nullptr);
        for (auto& s : argv) args.push_back(s.data());
        args.push_back(nullptr);
        int rc = posix_spawnp(&pid_, args[0], &fa, nullptr, args.data(), envp.data());
        posix_spawn_file_actions_destroy(&fa);
        ::close(out[1]);
        ::close(err[1]);
        out_ = out[0];
        err_ = err[0];
        EXPECT_EQ(rc, 0) << "cannot run " << argv[0] << ": " << std::strerror(rc);
        if (rc != 0) pid_ = -1;
    }
    ~Tool() {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
        ::close(out_);
        ::close(err_);
    }

    // Reads output until `line_count` lines have arrived on stdout or the deadline passes.
    void wait_for_lines(size_t line_count, std::chrono::milliseconds timeout) {
        auto deadline = Clock::now() + timeout;
        while (static_cast<size_t>(std::count(stdout_.begin(), stdout_.end(), '\n')) < line_count &&
               (out_open_ || err_open_) && Clock::now() < deadline) {
            pump(20);
        }
    }

    // Waits for the exit (the destructor kills a tool still running at the deadline);
    // the exit status, or -1.
    int finish(std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
        auto deadline = Clock::now() + timeout;
        int status = 0;
        while (pid_ > 0) {
            pump(20);
            if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                pid_ = -1;
                break;
            }
            if (Clock::now() >= deadline) {
                ADD_FAILURE() << "tool still running after " << timeout.count() << " ms";
                return -1;
            }
        }
        auto drain_deadline = Clock::now() + std::chrono::seconds(1);
        while ((out_open_ || err_open_) && Clock::now() < drain_deadline) pump(20);
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }

    const std::string& out() const { return stdout_; }
    const std::string& err() const { return stderr_; }

  private:
    // One poll of the pipes still open, appending what arrived.
    void pump(int timeout_ms) {
        pollfd fds[2] = {{out_open_ ? out_ : -1, POLLIN, 0}, {err_open_ ? err_ : -1, POLLIN, 0}};
        if (::poll(fds, 2, timeout_ms) <= 0) return;
        char buf[4096];
        for (int i = 0; i < 2; ++i) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            ssize_t n = ::read(fds[i].fd, buf, sizeof(buf));
            if (n <= 0) {
                (i == 0 ? out_open_ : err_open_) = false;
            } else {
                (i == 0 ? stdout_ : stderr_).append(buf, static_cast<size_t>(n));
            }
        }
    }

    pid_t pid_ = -1;
    int out_ = -1, err_ = -1;
    bool out_open_ = true, err_open_ = true;
    std::string stdout_, stderr_;
};

struct Result {
    int status;
    std::string out;
    std::string err;
};

class XenstoreUtils : public ::testing::Test {
  protected:
    void SetUp() override {
        for (const char* tool :
             {"xenstore-write", "xenstore-read", "xenstore-ls", "xenstore-list", "xenstore-exists",
              "xenstore-rm", "xenstore-chmod", "xenstore-watch"}) {
            bool found = false;
            for (const char* dir : {"/usr/bin", "/usr/sbin", "/bin", "/usr/local/bin"}) {
                found |= ::access((std::string(dir) + "/" + tool).c_str(), X_OK) == 0;
            }
            ASSERT_TRUE(found) << tool
                               << " is not installed (Debian package xenstore-utils; make deps)";
        }
        char dir[] = "/tmp/xenolith-xenstore-XXXXXX";
        ASSERT_NE(::mkdtemp(dir), nullptr);
        dir_ = dir;
        server_ = std::make_unique<SocketServer>(daemon_, dir_ + "/socket");
    }
    void TearDown() override {
        server_.reset();
        std::filesystem::remove_all(dir_);
    }

    Result run(std::vector<std::string> argv) {
        Tool tool(server_->path(), std::move(argv));
        int status = tool.finish();
        return {status, tool.out(), tool.err()};
    }
    std::unique_ptr<Tool> start(std::vector<std::string> argv) {
        return std::make_unique<Tool>(server_->path(), std::move(argv));
    }

    Xenstored daemon_;
    std::string dir_;
    std::unique_ptr<SocketServer> server_;
};

TEST_F(XenstoreUtils, WriteReadLsListExistsRm) {
    Result w = run({"xenstore-write", "/vm/a/b", "hello", "/vm/c", "x y"});
    ASSERT_EQ(w.status, 0) << w.err;
    EXPECT_EQ(run({"xenstore-read", "/vm/a/b"}).out, "hello\n");
    EXPECT_EQ(run({"xenstore-read", "/vm/a/b", "/vm/c"}).out, "hello\nx y\n");
    EXPECT_EQ(run({"xenstore-ls", "/vm"}).out, "a = \"\"\n b = \"hello\"\nc = \"x y\"\n");
    EXPECT_EQ(run({"xenstore-ls", "-f", "/vm"}).out,
              "/vm/a = \"\"\n/vm/a/b = \"hello\"\n/vm/c = \"x y\"\n");
    EXPECT_EQ(
        run({"xenstore-ls"}).out,
        "tool = \"\"\n xenstored = \"\"\nvm = \"\"\n a = \"\"\n  b = \"hello\"\n c = \"x y\"\n");
    EXPECT_EQ(run({"xenstore-list", "/vm"}).out, "a\nc\n");
    EXPECT_EQ(run({"xenstore-exists", "/vm/c"}).status, 0);
    EXPECT_EQ(run({"xenstore-exists", "/vm/zz"}).status, 1);

    Result rm = run({"xenstore-rm", "/vm/a"});
    EXPECT_EQ(rm.status, 0) << rm.err;
    Result gone = run({"xenstore-read", "/vm/a/b"});
    EXPECT_EQ(gone.status, 1);
    EXPECT_NE(gone.err.find("couldn't read path /vm/a/b"), std::string::npos) << gone.err;
    EXPECT_EQ(run({"xenstore-list", "/vm"}).out, "c\n");
}

TEST_F(XenstoreUtils, RelativePathsAreDom0s) {
    ASSERT_EQ(run({"xenstore-write", "name", "Domain-0"}).status, 0);
    EXPECT_EQ(run({"xenstore-read", "/local/domain/0/name"}).out, "Domain-0\n");
}

TEST_F(XenstoreUtils, ChmodSetsWhatGuestsMaySee) {
    ASSERT_EQ(run({"xenstore-write", "/shared/cfg", "v1", "/shared/priv", "p"}).status, 0);
    Result chmod = run({"xenstore-chmod", "/shared/cfg", "r0", "b1"});
    ASSERT_EQ(chmod.status, 0) << chmod.err;
    ASSERT_EQ(run({"xenstore-chmod", "/shared", "n0", "r1"}).status, 0);
    // xenstore-ls -p pads each line with dots up to the permissions.
    std::string ls = run({"xenstore-ls", "-p", "/shared"}).out;
    size_t cut = ls.find('\n');
    ASSERT_NE(cut, std::string::npos) << ls;
    std::string first = ls.substr(0, cut), second = ls.substr(cut + 1);
    EXPECT_TRUE(first.starts_with("cfg = \"v1\" ")) << ls;
    EXPECT_TRUE(first.ends_with(" .  (r0,b1)")) << ls;
    EXPECT_TRUE(second.starts_with("priv = \"p\" ")) << ls;
    EXPECT_TRUE(second.ends_with(" .  (n0)\n")) << ls;

    // Domain 1, over its own connection, sees exactly that.
    Connection guest(daemon_, 1, false);
    auto ask = [&](uint32_t type, std::string payload) {
        guest.feed(encode_message(type, 1, 0, payload));
        std::string out = guest.take_output();
        xsd_sockmsg h;
        std::memcpy(&h, out.data(), sizeof(h));
        std::string body = out.substr(sizeof(h));
        return h.type == XS_ERROR ? body.substr(0, body.size() - 1) : body;
    };
    EXPECT_EQ(ask(XS_READ, std::string("/shared/cfg\0", 12)), "v1");
    EXPECT_EQ(ask(XS_READ, std::string("/shared/priv\0", 13)), "EACCES");
    EXPECT_EQ(ask(XS_WRITE, std::string("/shared/cfg\0v2", 14)), std::string("OK", 3));
    EXPECT_EQ(run({"xenstore-read", "/shared/cfg"}).out, "v2\n");

    // -r applies the list to the whole subtree.
    ASSERT_EQ(run({"xenstore-chmod", "-r", "/shared", "n0"}).status, 0);
    EXPECT_EQ(ask(XS_READ, std::string("/shared/cfg\0", 12)), "EACCES");
}

TEST_F(XenstoreUtils, WatchSeesTheInitialFireChangesAndRemovals) {
    ASSERT_EQ(run({"xenstore-write", "/w/old", "1"}).status, 0);
    auto watch = start({"xenstore-watch", "-n", "4", "/w"});
    watch->wait_for_lines(1, std::chrono::seconds(10));  // the initial fire: registered
    ASSERT_EQ(watch->out(), "/w\n") << watch->err();
    ASSERT_EQ(run({"xenstore-write", "/w/new", "2"}).status, 0);
    ASSERT_EQ(run({"xenstore-write", "/elsewhere", "3"}).status, 0);  // not below /w
    ASSERT_EQ(run({"xenstore-rm", "/w/old"}).status, 0);
    ASSERT_EQ(run({"xenstore-chmod", "/w", "n0", "r2"}).status, 0);
    EXPECT_EQ(watch->finish(), 0) << watch->err();
    EXPECT_EQ(watch->out(), "/w\n/w/new\n/w/old\n/w\n");
}

TEST_F(XenstoreUtils, WatchSeesAGuestsWrite) {
    auto watch = start({"xenstore-watch", "-n", "2", "/local/domain/1"});
    watch->wait_for_lines(1, std::chrono::seconds(10));
    ASSERT_EQ(watch->out(), "/local/domain/1\n") << watch->err();
    ASSERT_EQ(run({"xenstore-write", "/local/domain/1", ""}).status, 0);
    EXPECT_EQ(watch->finish(), 0) << watch->err();
    EXPECT_EQ(watch->out(), "/local/domain/1\n/local/domain/1\n");
}

TEST_F(XenstoreUtils, BigDirectoriesPageThroughDirectoryPart) {
    std::vector<std::string> argv{"xenstore-write"};
    for (int i = 0; i < 300; ++i) {
        char name[64];
        std::snprintf(name, sizeof(name), "/big/child-%013d", i);
        argv.emplace_back(name);
        argv.emplace_back("x");
    }
    ASSERT_EQ(run(argv).status, 0);
    Result list = run({"xenstore-list", "/big"});
    EXPECT_EQ(list.status, 0) << list.err;
    EXPECT_EQ(std::count(list.out.begin(), list.out.end(), '\n'), 300);
    EXPECT_EQ(list.out.substr(0, 20), "child-0000000000000\n");
}

TEST_F(XenstoreUtils, ManyClientsInTurnLeaveNoConnectionsBehind) {
    for (int i = 0; i < 20; ++i)
        ASSERT_EQ(run({"xenstore-write", "/n/" + std::to_string(i), "v"}).status, 0);
    std::string list = run({"xenstore-list", "/n"}).out;
    EXPECT_EQ(std::count(list.begin(), list.end(), '\n'), 20);
    auto deadline = Clock::now() + std::chrono::seconds(5);
    while (server_->client_count() != 0 && Clock::now() < deadline) ::usleep(10000);
    EXPECT_EQ(server_->client_count(), 0u);
    EXPECT_EQ(daemon_.connection_count(), 0u);
}

}  // namespace
}  // namespace xenolith::xenstored
