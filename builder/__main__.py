"""`python -m builder` runs the CLI (builder.cli is never run as __main__: its command
modules import it, and a second copy would re-register them)."""

from builder.cli import main

main()
