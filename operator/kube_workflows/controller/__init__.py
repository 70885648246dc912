"""The kopf operator: thin handlers over the pure builders and status derivation."""
