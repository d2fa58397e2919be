"""Root-key providers that need more than the pure crypto core (AWS KMS)."""
