"""qip_platform."""
