"""qip_trigger."""
