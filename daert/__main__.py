"""`python -m daert` runs the CLI."""

from daert.cli import main

main()
