// A thread for the transport calls that may block, so that the owner loop
// never waits on a network or a device.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace nvmecuse::ctrlr {

/// Runs jobs one at a time, in the order given, on a thread of its own:
/// connect_admin() and create_io_queue(), which for NVMe/TCP connect a
/// socket and wait for ICResp and the Fabrics Connect response (each step
/// bounded by the connect timeout), and for PCIe poll the admin queue for
/// Create I/O Queue. The thread starts with the first job. The destructor
/// runs the jobs already given, then joins.
class BlockingWorker {
public:
    explicit BlockingWorker(std::string name) : name_(std::move(name)) {}
    ~BlockingWorker();
    BlockingWorker(const BlockingWorker&) = delete;
    BlockingWorker& operator=(const BlockingWorker&) = delete;

    /// Any thread. Queues `job`. Where no thread can be created (out of
    /// processes or memory), runs it on the calling thread instead: slower
    /// for the caller, never lost.
    void run(std::move_only_function<void()> job);

private:
    void loop();

    std::string name_;
    std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<std::move_only_function<void()>> jobs_;
    bool stopping_ = false;
    std::thread thread_;
};

} // namespace nvmecuse::ctrlr
