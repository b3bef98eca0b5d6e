"""The stack base every stack derives from, and what a stack declares to tools and tests."""
