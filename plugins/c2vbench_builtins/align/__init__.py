"""Built-in align (similarity) heads: ``cosine`` and CLIP2Video's ``tab``. Each public module is an entry point."""
