// admin_self_test: being written
