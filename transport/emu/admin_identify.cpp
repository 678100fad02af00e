// admin_identify: being written
