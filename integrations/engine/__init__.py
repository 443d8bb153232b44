"""The sync engine: runs, the extract → transform → validate → load pipeline, exactly-once
loading, and the review queue it feeds (DESIGN §1, §4, §5, §6)."""
