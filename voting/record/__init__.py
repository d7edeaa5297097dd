"""The published election record: export (service side) and the independent
verifier (docs/election-record.md). ``verify`` imports nothing of the service."""
