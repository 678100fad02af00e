// admin_log_pages: being written
