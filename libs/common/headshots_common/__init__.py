"""The Headshots runtime library every service imports: settings, event bus, blob store and its layout,
the adapter format, the base model, faces, styles, process lifecycle."""
