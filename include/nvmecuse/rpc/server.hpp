// The JSON-RPC control socket: a unix stream socket, mode 0600, each peer
// checked by SO_PEERCRED, served on threads of its own so that no request
// ever runs on a controller's owner thread.
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <expected>
#include <functional>
#include <memory>
#include <string>

#include "nvmecuse/rpc/dispatcher.hpp"

namespace nvmecuse::rpc {

/// Who may talk to the socket. Production: root or the daemon's own
/// effective uid (peer_is_root_or_self()); tests inject a refusal.
using PeerCheck = std::function<bool(const ucred& peer)>;

[[nodiscard]] bool peer_is_root_or_self(const ucred& peer);

struct ServerOptions {
    std::string path;                          ///< created; its directory too (0700)
    std::size_t max_request = 1 << 20;         ///< bytes of one request, at most
    unsigned max_connections = 16;             ///< more are closed at once
    PeerCheck authorize;                       ///< empty: peer_is_root_or_self
};

/// Serves `dispatcher` on a unix socket at `options.path`: an accepting
/// thread, and a thread per connection that reads requests one after
/// another (a bare JSON object or batch array each, as rpc.py sends
/// them), answers each and keeps the connection until the peer closes it.
///
/// A request that is no JSON gets -32700 and the connection is closed (the
/// stream cannot be resynchronised); one growing past max_request gets
/// -32600 and is closed. A peer the check refuses gets an error object
/// with code -13 (EACCES) and is closed.
class Server {
public:
    /// Binds (through a temporary name renamed into place, so the socket
    /// never exists with a wider mode than 0600) and starts serving.
    /// A stale socket left by a dead daemon is replaced; one another
    /// daemon answers on is EADDRINUSE. `dispatcher` must outlive the
    /// Server. Errors are messages naming the path.
    [[nodiscard]] static std::expected<std::unique_ptr<Server>, std::string>
    start(const Dispatcher& dispatcher, ServerOptions options);

    /// stop().
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    /// Closes every connection (a request in progress finishes first),
    /// joins the threads and unlinks the socket. Idempotent; not on a
    /// connection thread.
    void stop();

    [[nodiscard]] const std::string& path() const;

    class Impl;

private:
    explicit Server(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

} // namespace nvmecuse::rpc
