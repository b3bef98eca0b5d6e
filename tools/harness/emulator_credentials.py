"""The credentials the local emulator takes: apart from :mod:`modules.stack.emulator` because
that module imports cdktf (jsii starts Node, about 2 s), which a boto3 client never needs."""

from __future__ import annotations

# The emulator's moto server answers any access key; the harness exports these.
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
