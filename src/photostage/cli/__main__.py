"""``python -m photostage.cli``: the ``photostage`` command without the installed script."""

from photostage.cli import main

main()
