"""Certificates of global minima: closed forms, enumeration, and their checks (DESIGN.md §5)."""
