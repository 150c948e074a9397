"""The `nerd` command line and the Textual app: thin shells over `core`."""
