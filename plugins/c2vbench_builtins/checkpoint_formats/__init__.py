"""Built-in checkpoint formats: the official CLIP2Video release files. Each public module is an entry point."""
