"""Batch jobs: the monthly evaluation, CSV imports, demo data, and their progress display."""
