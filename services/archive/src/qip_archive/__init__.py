"""qip_archive."""
