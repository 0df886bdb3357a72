"""Speech engines: ``loopback`` here; the offline and Nova Sonic engines plug in beside it."""
