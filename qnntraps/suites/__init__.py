"""Suites: frozen, versioned sets of instances with restarts, budgets and a held-out rule
(`definitions`), the suite score (`score`) and `bench`, which runs an optimizer on a suite."""
