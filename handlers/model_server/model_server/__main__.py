"""``python -m model_server``: configuration from the environment (see config.Config)."""

import sys

from model_server.server import main

sys.exit(main())
