from vaultform.cli import main

main()
