// admin_features: being written
