"""``python -m c2vbench`` is the ``c2vbench`` command."""

from .cli.main import main

main()
