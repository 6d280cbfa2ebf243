"""Rehearsal of migrations on a throwaway database (``migrate dry-run``)."""
