"""Built-in temporal modules: ``meanp``, ``seqtransf`` and CLIP2Video's ``tdb``.

Each public module is an entry point."""
