"""The ground floor, which every layer may use and which imports nothing else of modules/: input
rules, names, paths, pinned versions, the lazy provider import."""
