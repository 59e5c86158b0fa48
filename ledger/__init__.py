"""A generic ledger: records and replays changes to registered PostgreSQL tables."""
