// io_commands: being written
