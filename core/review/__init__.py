"""Review: a person's corrections of an annotation run, one append-only row per decision."""
