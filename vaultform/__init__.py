"""vaultform: plan and apply a whole Vault / OpenBao setup from one YAML spec."""

__version__ = "0.1.0"
