"""Development tooling: run the whole system locally."""
