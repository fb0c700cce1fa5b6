"""Code every Headshots service shares: settings helpers, the event bus, the blob store, faces, styles."""
