// async_events: being written
