"""qip_validate."""
