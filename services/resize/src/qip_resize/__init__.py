"""qip_resize."""
