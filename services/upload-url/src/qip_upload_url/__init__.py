"""qip_upload_url."""
