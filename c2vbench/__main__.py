"""``python -m c2vbench`` is the ``c2vbench`` command."""

from c2vbench.cli.main import main

main()
