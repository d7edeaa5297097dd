"""``python -m voting.cli``: the same as the ``voting`` command."""

from voting.cli import main

main(prog_name="voting")
