"""The incident matrix: incident shapes planted on databases Django migrated from real apps,
under each evidence condition, scored against the truth they planted (see matrix.py)."""
