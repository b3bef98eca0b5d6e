"""``make cost``: the fixed monthly cost of the synthesized stacks, from a dated price table.

``prices.toml`` holds the prices, ``rules.py`` counts what each resource runs, ``kinds.py``
classifies every resource type (priced, usage-only or free), ``report.py`` renders tables.
"""
