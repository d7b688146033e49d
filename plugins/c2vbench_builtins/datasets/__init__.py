"""Built-in datasets: ``msrvtt``, ``msvd``, ``vatex`` and the embedded ``synthetic-motion``. Each public module is an
entry point."""
