#include "nvmecuse/cuse/registry.hpp"

#include <spdlog/spdlog.h>

#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

namespace nvmecuse::cuse {

class Registry::Impl {
public:
    Impl(ctrlr::Controller& controller, RegistryOptions options)
        : controller_(controller), options_(std::move(options))
    {
        if (!options_.open_channel)
            options_.open_channel = [](const std::string&) { return open_cuse_channel(); };
    }

    std::string base() const
    {
        return options_.directory + "/nvme" + std::to_string(options_.controller_index);
    }

    std::expected<std::unique_ptr<Device>, std::error_code> make_device(NodeKind kind,
                                                                        std::uint32_t nsid)
    {
        DeviceOptions d;
        d.kind = kind;
        d.nsid = nsid;
        d.devname = kind == NodeKind::controller ? base() : base() + "n" + std::to_string(nsid);
        d.reader_threads = options_.reader_threads;
        d.serve_on_owner_thread = options_.serve_on_owner_thread;
        d.reactors = options_.reactors;
        d.fast_path = options_.fast_path;
        d.restricted_ioctls = options_.restricted_ioctls;
        d.permissions = options_.permissions;
        d.credentials = options_.credentials;
        d.kernel_rules = options_.kernel_rules;
        d.inflight = options_.inflight;
        auto channel = options_.open_channel(d.devname);
        if (!channel) return std::unexpected(channel.error());
        return Device::start(controller_, std::move(d), *channel);
    }

    /// Brings the namespace nodes in line with the controller's snapshot.
    /// Registry thread (or create(), before it starts).
    void reconcile()
    {
        const auto info = controller_.info();
        std::vector<std::unique_ptr<Device>> gone;
        std::vector<std::uint32_t> missing;
        {
            std::lock_guard lock(mutex_);
            for (auto it = namespaces_.begin(); it != namespaces_.end();) {
                if (info->namespaces.contains(it->first)) {
                    ++it;
                    continue;
                }
                gone.push_back(std::move(it->second));
                it = namespaces_.erase(it);
            }
            for (const auto& [nsid, ns] : info->namespaces)
                if (!namespaces_.contains(nsid)) missing.push_back(nsid);
        }
        for (auto& d : gone)
            d->stop(); // waiting callers get ENODEV
        gone.clear();
        for (const std::uint32_t nsid : missing) {
            auto device = make_device(NodeKind::namespace_node, nsid);
            if (!device) {
                spdlog::error("cuse: cannot create the node of namespace {} of {}: {}", nsid,
                              base(), device.error().message());
                continue;
            }
            std::lock_guard lock(mutex_);
            namespaces_.emplace(nsid, std::move(*device));
        }
    }

    void worker()
    {
        std::unique_lock lock(queue_mutex_);
        for (;;) {
            queue_cv_.wait(lock, [&] { return stopping_ || dirty_; });
            if (stopping_) return;
            dirty_ = false;
            lock.unlock();
            reconcile();
            lock.lock();
        }
    }

    void poke()
    {
        {
            std::lock_guard lock(queue_mutex_);
            dirty_ = true;
        }
        queue_cv_.notify_one();
    }

    void stop()
    {
        if (listener_) {
            controller_.remove_namespace_listener(*listener_);
            listener_.reset();
        }
        {
            std::lock_guard lock(queue_mutex_);
            stopping_ = true;
        }
        queue_cv_.notify_one();
        if (thread_.joinable()) thread_.join();
        std::map<std::uint32_t, std::unique_ptr<Device>> namespaces;
        std::unique_ptr<Device> ctrl;
        {
            std::lock_guard lock(mutex_);
            namespaces.swap(namespaces_);
            ctrl = std::move(controller_node_);
        }
        for (auto& [nsid, d] : namespaces)
            d->stop();
        if (ctrl) ctrl->stop();
    }

    ctrlr::Controller& controller_;
    RegistryOptions options_;
    std::optional<ctrlr::Controller::ListenerId> listener_;

    mutable std::mutex mutex_; ///< guards the nodes
    std::unique_ptr<Device> controller_node_;
    std::map<std::uint32_t, std::unique_ptr<Device>> namespaces_;

    std::mutex queue_mutex_;
    std::condition_variable queue_cv_;
    bool dirty_ = false;
    bool stopping_ = false;
    std::thread thread_;
};

std::expected<std::unique_ptr<Registry>, std::error_code>
Registry::create(ctrlr::Controller& controller, RegistryOptions options)
{
    auto impl = std::make_unique<Impl>(controller, std::move(options));
    auto ctrl = impl->make_device(NodeKind::controller, 0);
    if (!ctrl) return std::unexpected(ctrl.error());
    impl->controller_node_ = std::move(*ctrl);
    // Subscribe before the first scan so no change falls in between; the
    // listener (owner thread) only marks the registry dirty.
    impl->listener_ = controller.add_namespace_listener(
        [raw = impl.get()](const ctrlr::NamespaceEvent&) { raw->poke(); });
    impl->reconcile();
    impl->thread_ = std::thread([raw = impl.get()] { raw->worker(); });
    return std::unique_ptr<Registry>(new Registry(std::move(impl)));
}

Registry::Registry(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Registry::~Registry()
{
    stop();
}

void Registry::stop()
{
    impl_->stop();
}

std::string Registry::controller_devname() const
{
    return impl_->base();
}

std::string Registry::namespace_devname(std::uint32_t nsid) const
{
    return impl_->base() + "n" + std::to_string(nsid);
}

std::vector<std::string> Registry::devnames() const
{
    std::lock_guard lock(impl_->mutex_);
    std::vector<std::string> names;
    if (impl_->controller_node_) names.push_back(impl_->controller_node_->devname());
    for (const auto& [nsid, d] : impl_->namespaces_)
        names.push_back(d->devname());
    return names;
}

std::optional<DeviceStats> Registry::stats(std::string_view devname) const
{
    std::lock_guard lock(impl_->mutex_);
    if (impl_->controller_node_ && impl_->controller_node_->devname() == devname)
        return impl_->controller_node_->stats();
    for (const auto& [nsid, d] : impl_->namespaces_)
        if (d->devname() == devname) return d->stats();
    return std::nullopt;
}

} // namespace nvmecuse::cuse
