"""Test support shared by every package's tests (registered as a pytest plugin)."""
