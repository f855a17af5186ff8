"""``python -m funcnet.cli``: the ``funcnet`` command."""

from funcnet.cli import cli

if __name__ == "__main__":  # pragma: no cover
    cli(prog_name="funcnet")
