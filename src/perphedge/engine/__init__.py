"""The live engine's imperative shell: observe → plan → execute → record, over a venue port."""
