"""qip_sweeper."""
