"""Enable the conformance suite: its fixtures, its ``invariant`` marker, its asserts rewritten."""

pytest_plugins = ["sentinel_vectors.testing.conformance"]
