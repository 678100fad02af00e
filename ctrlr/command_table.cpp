#include "command_table.hpp"

#include <algorithm>

namespace nvmecuse::ctrlr {

CommandTable::CommandTable(std::uint16_t capacity)
    // cid 0xffff is reserved by the spec for "no command" in error logs.
    : slots_(std::min<std::uint16_t>(capacity, none))
{
    for (std::size_t i = slots_.size(); i-- > 0;) {
        slots_[i].next_free = free_head_;
        free_head_ = static_cast<std::uint16_t>(i);
    }
}

int CommandTable::allocate() noexcept
{
    if (free_head_ == none) return -1;
    const std::uint16_t cid = free_head_;
    free_head_ = slots_[cid].next_free;
    ++used_;
    return cid;
}

void CommandTable::release(std::uint16_t cid) noexcept
{
    Slot& s = slots_[cid];
    s.state = State::free;
    s.deadline = Clock::time_point::max();
    s.next_free = free_head_;
    free_head_ = cid;
    --used_;
}

} // namespace nvmecuse::ctrlr
