"""The PostgreSQL backend's own behaviour on the private test cluster (what every backend
must do is in tests/store_contract)."""
