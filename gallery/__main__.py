"""``python -m gallery``: the same command line as the ``gallery`` script."""

from gallery.cli import cli

if __name__ == "__main__":
    cli(prog_name="gallery")
