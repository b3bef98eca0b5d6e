"""Assemblies several stacks share (the serving site, exposure, network handles, chaos
experiments, the model server's environment and metrics): above the blocks, below the stacks.
A pattern never imports an architecture (an import contract in ``pyproject.toml``)."""
