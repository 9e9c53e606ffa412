"""The store contract: what every store backend must do, tested through the store protocols
(`calibd.store.protocols`). conftest.py lists the backends; each test runs on every one."""
