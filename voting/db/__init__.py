"""The database layer: tables, engine set-up and migrations."""
