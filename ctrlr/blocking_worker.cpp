#include "blocking_worker.hpp"

#include <pthread.h>

#include <system_error>

namespace nvmecuse::ctrlr {

BlockingWorker::~BlockingWorker()
{
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_one();
    if (thread_.joinable()) thread_.join();
}

void BlockingWorker::run(std::move_only_function<void()> job)
{
    {
        std::lock_guard lock(mutex_);
        if (!thread_.joinable()) {
            try {
                thread_ = std::thread([this] { loop(); });
            } catch (const std::system_error&) {
                thread_ = {};
            }
        }
        if (thread_.joinable()) {
            jobs_.push_back(std::move(job));
            wake_.notify_one();
            return;
        }
    }
    job();
}

void BlockingWorker::loop()
{
    // "<controller>.conn" in top -H, perf and gdb (15 characters at most).
    const std::string thread_name = name_.substr(0, 10) + ".conn";
    pthread_setname_np(pthread_self(), thread_name.c_str());
    std::unique_lock lock(mutex_);
    for (;;) {
        wake_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
        if (jobs_.empty()) return; // stopping, nothing left
        auto job = std::move(jobs_.front());
        jobs_.pop_front();
        lock.unlock();
        job();
        lock.lock();
    }
}

} // namespace nvmecuse::ctrlr
