"""The screens of nerd's Textual app: review, runs, reports and help."""
