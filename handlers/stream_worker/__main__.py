"""``python -m stream_worker`` (from the folder above this one) runs the worker."""

import sys

from .worker import main

sys.exit(main())
