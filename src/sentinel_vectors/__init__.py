"""sentinel-vectors: tenant-safe vector search for Sentinel Auth services."""
