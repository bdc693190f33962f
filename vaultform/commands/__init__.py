"""One module per command; vaultform/cli.py lists them."""
