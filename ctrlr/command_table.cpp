#include "command_table.hpp"

#include <algorithm>

namespace nvmecuse::ctrlr {

CommandTable::CommandTable(std::uint16_t capacity)
    : slots_(std::min(capacity, transport::max_queue_depth))
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
    Slot& s = slots_[cid];
    free_head_ = s.next_free;
    const unsigned generation = (s.cid >> 12) + 1u;
    s.cid = static_cast<std::uint16_t>(((generation % generations) << 12) | cid);
    ++used_;
    return cid;
}

void CommandTable::release(std::uint16_t index) noexcept
{
    Slot& s = slots_[index];
    s.state = State::free;
    s.deadline = Clock::time_point::max();
    s.next_free = free_head_;
    free_head_ = index;
    --used_;
}

} // namespace nvmecuse::ctrlr
