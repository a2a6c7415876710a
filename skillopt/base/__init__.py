"""The base layer: what every other layer shares and nothing here imports from them.

The rollout-directory format (`rollout`), the skill document and its protected blocks
(`skill`), update modes and their reply schemas (`modes`), scores and the one failure predicate
(`scores`), errors, atomic writes and the bundled resources. No I/O beyond files.
"""
