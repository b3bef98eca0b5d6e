"""Where ``tools/chaos`` finds the stacks as the embedded defaults synthesize them; they live in
``tools/default_synth.py``, beside the docs and the cost tool that both read them."""

from tools.default_synth import default_stacks as default_stacks
