"""The transcripts service: a durable JetStream consumer into a database, and a read API."""
