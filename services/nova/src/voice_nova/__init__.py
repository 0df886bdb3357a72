"""The speech worker: claims sessions from the bus and drives a speech engine for each."""
