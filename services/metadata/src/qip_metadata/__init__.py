"""qip_metadata."""
