"""Allow ``python -m perphedge``."""

from perphedge.cli.app import main

main()
