"""The `nerd` subcommands, grouped by stage; importing `tui.cli` registers them on the group."""
