"""``python -m accelbench`` runs the CLI."""

from accelbench.cli import main

main()
