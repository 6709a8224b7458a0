"""Human review: annotation agreement and review workflows."""
