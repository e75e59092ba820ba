"""qip_thumbnail."""
