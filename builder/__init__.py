"""benchsmith: build custom domain benchmarks with human review."""
