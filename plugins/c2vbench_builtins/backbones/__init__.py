"""Built-in backbones: ``clip`` (any open_clip architecture) and ``tiny-clip``. Each public module is an entry point."""
