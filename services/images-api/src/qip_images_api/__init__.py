"""qip_images_api."""
