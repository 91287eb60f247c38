"""The harness: seeded starts, a counted oracle, optimizer runs, results and their metrics."""
