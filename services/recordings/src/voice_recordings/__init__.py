"""Recordings: every session kept as one stereo Ogg Opus file with an index of its turns."""
