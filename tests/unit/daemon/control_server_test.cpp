// The control socket against broken and hostile clients: every bad request gets one error
// reply with an errno name, and the daemon keeps serving.
#include "toolstack/daemon/control_server.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>

#include <gtest/gtest.h>

#include "base/unix_socket.hpp"
#include "toolstack/daemon/instance_lock.hpp"

namespace xenolith::daemon {
namespace {

class ControlServerTest : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/xenolith-control-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
        std::map<std::string, Handler> h;
        h["echo"] = [](const nlohmann::json& args, Session&) { return args; };
        h["fail"] = [](const nlohmann::json&, Session&) -> nlohmann::json {
            throw api::ApiError("EEXIST", "it is there already");
        };
        h["throw"] = [](const nlohmann::json&, Session&) -> nlohmann::json { throw std::runtime_error("boom"); };
        server_ = std::make_unique<ControlServer>(dir_ + "/c.sock", std::move(h));
    }
    void TearDown() override {
        server_.reset();
        std::filesystem::remove_all(dir_);
    }
    // Sends raw bytes, returns the reply line parsed.
    nlohmann::json raw(const std::string& line) {
        int err = 0;
        UniqueFd fd = connect_unix(dir_ + "/c.sock", err);
        EXPECT_TRUE(fd.valid());
        write_all(fd.get(), line.data(), line.size());
        api::LineReader r(fd.get());
        auto reply = r.next();
        EXPECT_TRUE(reply.has_value());
        return nlohmann::json::parse(reply.value_or("null"));
    }
    std::string dir_;
    std::unique_ptr<ControlServer> server_;
};

TEST_F(ControlServerTest, AnswersARequestWithItsId) {
    auto c = api::Client::connect(dir_ + "/c.sock");
    ASSERT_TRUE(c);
    nlohmann::json r = c->call("echo", {{"x", 1}});
    EXPECT_EQ(r["x"], 1);
    EXPECT_EQ(c->call("echo", {{"x", 2}})["x"], 2);  // the same connection serves again
}

TEST_F(ControlServerTest, ReportsHandlerErrorsWithTheirCode) {
    auto c = api::Client::connect(dir_ + "/c.sock");
    try {
        c->call("fail");
        FAIL() << "no error";
    } catch (const api::ApiError& e) {
        EXPECT_EQ(e.code(), "EEXIST");
        EXPECT_STREQ(e.what(), "it is there already");
    }
    try {
        c->call("throw");
        FAIL() << "no error";
    } catch (const api::ApiError& e) {
        EXPECT_EQ(e.code(), "EIO");
    }
    EXPECT_EQ(c->call("echo", {{"still", true}})["still"], true);
}

TEST_F(ControlServerTest, RefusesMalformedRequests) {
    EXPECT_EQ(raw("not json\n")["error"]["code"], "EBADMSG");
    EXPECT_EQ(raw("[1,2]\n")["error"]["code"], "EBADMSG");
    EXPECT_EQ(raw(R"({"api": 2, "id": 1, "command": "echo"})" "\n")["error"]["code"], "EPROTO");
    EXPECT_EQ(raw(R"({"id": 1, "command": "echo"})" "\n")["error"]["code"], "EPROTO");
    EXPECT_EQ(raw(R"({"api": 1, "id": 1})" "\n")["error"]["code"], "EBADMSG");
    EXPECT_EQ(raw(R"({"api": 1, "id": 1, "command": "nope"})" "\n")["error"]["code"], "ENOSYS");
    EXPECT_EQ(raw(R"({"api": 1, "id": 1, "command": "echo", "args": 3})" "\n")["error"]["code"], "EINVAL");
    nlohmann::json ok = raw(R"({"api": 1, "id": "abc", "command": "echo", "args": {}})" "\n");
    EXPECT_EQ(ok["id"], "abc");
    EXPECT_TRUE(ok["ok"].get<bool>());
}

TEST_F(ControlServerTest, DropsAClientWhoseLineNeverEnds) {
    int err = 0;
    UniqueFd fd = connect_unix(dir_ + "/c.sock", err);
    std::string chunk(1 << 20, 'a');
    bool dropped = false;
    for (int i = 0; i < 8 && !dropped; ++i) dropped = !write_all(fd.get(), chunk.data(), chunk.size());
    char c;
    EXPECT_TRUE(dropped || ::recv(fd.get(), &c, 1, 0) <= 0);
    // And serves others meanwhile.
    EXPECT_TRUE(api::Client::connect(dir_ + "/c.sock")->call("echo", {{"y", 1}}).contains("y"));
}

TEST(InstanceLock, ASecondInstanceIsRefusedWithThePid) {
    char tmpl[] = "/tmp/xenolith-lock-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    std::string path = std::string(tmpl) + "/xenolithd.pid";
    {
        InstanceLock first(path);
        try {
            InstanceLock second(path);
            FAIL() << "the second lock was granted";
        } catch (const Error& e) {
            EXPECT_NE(std::string(e.what()).find("already running (pid " + std::to_string(::getpid())),
                      std::string::npos)
                << e.what();
        }
    }
    InstanceLock again(path);  // released with the first
    std::filesystem::remove_all(tmpl);
}

}  // namespace
}  // namespace xenolith::daemon
