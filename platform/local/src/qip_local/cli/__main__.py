"""`python -m qip_local.cli`: the `qip` command."""

from qip_local.cli import main

main()
