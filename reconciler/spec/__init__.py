"""The desired-state spec: models, loading with exact positions, semantic checks, units."""
