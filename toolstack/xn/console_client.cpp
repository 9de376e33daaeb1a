// xn console: the daemon streams the guest's console (history first, as xenconsoled
// replays its buffer); keystrokes go back to the guest. Ctrl-] detaches, as in xl.
#include <poll.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <optional>

#include "base/unix_socket.hpp"
#include "toolstack/xn/commands.hpp"
#include "toolstack/xn/daemon_client.hpp"
#include "toolstack/xn/guarded.hpp"

namespace xenolith::xn {

namespace {

constexpr char kEscape = 0x1d;  // Ctrl-]

// The terminal in raw mode while attached (keys go to the guest one by one, Ctrl-C
// included), restored however the command ends.
class RawTerminal {
  public:
    RawTerminal() {
        if (!::isatty(STDIN_FILENO) || ::tcgetattr(STDIN_FILENO, &saved_) != 0) return;
        termios raw = saved_;
        ::cfmakeraw(&raw);
        raw.c_oflag |= OPOST;  // keep "\n" -> "\r\n" for the guest's output
        if (::tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0) active_ = true;
    }
    ~RawTerminal() {
        if (active_) ::tcsetattr(STDIN_FILENO, TCSANOW, &saved_);
    }
    RawTerminal(const RawTerminal&) = delete;
    RawTerminal& operator=(const RawTerminal&) = delete;

  private:
    termios saved_{};
    bool active_ = false;
};

}  // namespace

int console_command(const std::string& domain) {
    return guarded([&] {
        auto client = connect_daemon();
        client->call("console", {{"domain", domain}});
        std::string early = client->reader().take_buffered();
        if (!early.empty() && !write_all(STDOUT_FILENO, early.data(), early.size())) return 0;
        RawTerminal terminal;
        bool input_open = true;
        for (;;) {
            pollfd fds[2] = {{client->fd(), POLLIN, 0},
                             {STDIN_FILENO, static_cast<short>(input_open ? POLLIN : 0), 0}};
            if (::poll(fds, 2, -1) < 0) {
                if (errno == EINTR) continue;
                return 1;
            }
            if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
                char buf[16384];
                ssize_t n = ::recv(client->fd(), buf, sizeof buf, 0);
                if (n <= 0) return 0;  // the domain went, or the daemon stopped
                if (!write_all(STDOUT_FILENO, buf, static_cast<size_t>(n))) return 0;
            }
            if (fds[1].revents & (POLLIN | POLLHUP)) {
                char buf[4096];
                ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
                if (n <= 0) {
                    input_open = false;  // stdin ended: keep showing output
                    continue;
                }
                std::string_view keys(buf, static_cast<size_t>(n));
                size_t escape = keys.find(kEscape);
                if (escape != std::string_view::npos) {
                    if (escape) write_all(client->fd(), keys.data(), escape);
                    return 0;
                }
                if (!write_all(client->fd(), keys.data(), keys.size())) return 0;
            }
        }
    });
}

}  // namespace xenolith::xn
