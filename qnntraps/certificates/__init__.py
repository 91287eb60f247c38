"""Certificates of global minima: closed forms, enumeration, and their checks.

docs/format.md says what each certificate kind holds in each field.
"""
