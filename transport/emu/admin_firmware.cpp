// admin_firmware: being written
