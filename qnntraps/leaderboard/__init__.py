"""The leaderboard: submissions built from bench folders, verified by sealed re-runs and on
held-out instances, rendered as tables and a static page (docs/submitting.md)."""
