"""One module per family of changes; each turns one parsed change into the steps of
its expand / backfill / contract phases (see docs/planner.md for the catalogue)."""
