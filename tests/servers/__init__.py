"""Real servers (PostgreSQL + pgvector, ...) started natively for integration tests."""
