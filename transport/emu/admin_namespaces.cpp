// admin_namespaces: being written
