"""Collectors: the only code that touches a database or a codebase."""
