"""Curation: turn a pool of records into candidate items (dedup, PII, contamination, sampling)."""
