#include "nvmecuse/cuse/caller_memory.hpp"

#include <fcntl.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <fstream>
#include <vector>

#include "nvmecuse/errno.hpp"
#include "nvmecuse/cuse/credentials.hpp"

#include "stack_arena.hpp"

namespace nvmecuse::cuse {
namespace {

/// process_vm_{readv,writev} accept at most IOV_MAX iovecs per side.
constexpr std::size_t max_iov = IOV_MAX;


void* as_pointer(std::uint64_t addr) noexcept
{
    return reinterpret_cast<void*>(static_cast<std::uintptr_t>(addr)); // NOLINT: a remote address
}

/// One process_vm_* call over `remote` with one `local` buffer; a short
/// transfer (the kernel stops at the first fault) is EFAULT.
template <class Fn>
std::error_code transfer(Fn fn, std::span<const UserRange> remote, void* local,
                         std::size_t local_len)
{
    StackArena<16 * sizeof(iovec)> arena;
    std::pmr::vector<iovec> riov(arena.resource());
    riov.reserve(remote.size());
    for (const auto& r : remote)
        riov.push_back({as_pointer(r.addr), static_cast<std::size_t>(r.len)});
    iovec liov{local, local_len};
    ssize_t n;
    do {
        n = fn(&liov, 1ul, riov.data(), static_cast<unsigned long>(riov.size()), 0ul);
    } while (n < 0 && errno == EINTR);
    if (n < 0) return errno_code(errno);
    if (static_cast<std::size_t>(n) != local_len) return errno_code(EFAULT);
    return {};
}

/// /proc/self/uid_map maps every id to itself: the initial user namespace.
bool in_initial_user_namespace()
{
    std::ifstream map("/proc/self/uid_map");
    std::uint64_t inside = 1, outside = 1, count = 0;
    return static_cast<bool>(map >> inside >> outside >> count) && inside == 0 && outside == 0 &&
           count == 4294967295u;
}

/// Reads a value out of a forked child's memory with process_vm_readv.
bool can_read_a_child()
{
    static volatile std::uint64_t marker = 0x6e766d6563757365; // "nvmecuse"
    int gate[2];
    if (::pipe2(gate, O_CLOEXEC) != 0) return false;
    const pid_t child = ::fork();
    if (child < 0) {
        ::close(gate[0]);
        ::close(gate[1]);
        return false;
    }
    if (child == 0) {
        // Only async-signal-safe calls here: wait until the parent is done.
        ::close(gate[1]);
        char c;
        while (::read(gate[0], &c, 1) < 0 && errno == EINTR) {
        }
        ::_exit(0);
    }
    ::close(gate[0]);
    std::uint64_t seen = 0;
    iovec local{&seen, sizeof seen};
    iovec remote{const_cast<std::uint64_t*>(&marker), sizeof marker}; // NOLINT: the child's copy
    const ssize_t n = ::process_vm_readv(child, &local, 1, &remote, 1, 0);
    ::close(gate[1]);
    while (::waitpid(child, nullptr, 0) < 0 && errno == EINTR) {
    }
    return n == static_cast<ssize_t>(sizeof seen) && seen == marker;
}

} // namespace

bool process_vm_reaches_every_caller()
{
    const auto self = read_caller_credentials(::getpid());
    return self && self->has(cap_sys_ptrace) && in_initial_user_namespace() && can_read_a_child();
}

std::error_code KernelCopiedArgument::read(std::span<const UserRange> remote,
                                           std::span<std::byte> local)
{
    // One range that lies within the copied struct: served from the request.
    if (remote.size() == 1 && remote[0].len == local.size() && remote[0].addr >= arg_) {
        const std::uint64_t offset = remote[0].addr - arg_;
        if (offset <= copied_.size() && local.size() <= copied_.size() - offset) {
            if (!local.empty()) std::memcpy(local.data(), copied_.data() + offset, local.size());
            return {};
        }
    }
    return rest_.read(remote, local);
}

std::error_code CallerMemory::read(std::uint64_t addr, std::span<std::byte> local)
{
    const UserRange r{addr, local.size()};
    return read(std::span(&r, 1), local);
}

std::error_code CallerMemory::write(std::uint64_t addr, std::span<const std::byte> bytes)
{
    const UserWrite w{addr, bytes};
    return write(std::span(&w, 1));
}

std::error_code ProcessVmMemory::read(std::span<const UserRange> remote, std::span<std::byte> local)
{
    std::uint64_t want = 0;
    for (const auto& r : remote)
        want += r.len;
    if (want != local.size()) return errno_code(EINVAL);
    const pid_t pid = pid_;
    auto readv = [pid](const iovec* l, unsigned long ln, const iovec* r, unsigned long rn,
                       unsigned long f) { return ::process_vm_readv(pid, l, ln, r, rn, f); };
    std::size_t off = 0;
    for (std::size_t i = 0; i < remote.size(); i += max_iov) {
        const auto chunk = remote.subspan(i, std::min(max_iov, remote.size() - i));
        std::size_t len = 0;
        for (const auto& r : chunk)
            len += r.len;
        if (len == 0) continue;
        if (auto ec = transfer(readv, chunk, local.data() + off, len)) return ec;
        off += len;
    }
    return {};
}

std::error_code ProcessVmMemory::write(std::span<const UserWrite> writes)
{
    // One process_vm_writev per IOV_MAX writes: local and remote iovecs pair up.
    StackArena<32 * sizeof(iovec)> arena;
    std::pmr::vector<iovec> liov(arena.resource());
    std::pmr::vector<iovec> riov(arena.resource());
    const std::size_t batch = std::min(writes.size(), max_iov);
    liov.reserve(batch);
    riov.reserve(batch);
    std::size_t len = 0;
    auto flush = [&]() -> std::error_code {
        if (liov.empty()) return {};
        ssize_t n;
        do {
            n = ::process_vm_writev(pid_, liov.data(), liov.size(), riov.data(), riov.size(), 0);
        } while (n < 0 && errno == EINTR);
        if (n < 0) return errno_code(errno);
        if (static_cast<std::size_t>(n) != len) return errno_code(EFAULT);
        liov.clear();
        riov.clear();
        len = 0;
        return {};
    };
    for (const auto& w : writes) {
        if (w.bytes.empty()) continue;
        // process_vm_writev only reads the local side; the const_cast never writes.
        liov.push_back({const_cast<std::byte*>(w.bytes.data()), w.bytes.size()}); // NOLINT
        riov.push_back({as_pointer(w.addr), w.bytes.size()});
        len += w.bytes.size();
        if (liov.size() == max_iov)
            if (auto ec = flush()) return ec;
    }
    return flush();
}

} // namespace nvmecuse::cuse
