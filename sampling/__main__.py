"""``python -m sampling`` runs the command line."""

from .cli import main

main(prog_name="sampling")
