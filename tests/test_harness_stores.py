"""What the emulator round trip fills before a destroy: every bucket and image repository a
stack's state holds, and nothing it only reads."""

from __future__ import annotations

import hashlib
import json

from tools.harness.stores import probe_manifest, stores_in_state


def test_the_stores_are_the_managed_buckets_and_repositories_of_the_state() -> None:
    def resource(mode: str, rtype: str, **attributes: str) -> dict[str, object]:
        return {"mode": mode, "type": rtype, "instances": [{"attributes": attributes}]}

    state = {
        "resources": [
            resource("managed", "aws_s3_bucket", bucket="data", id="data"),
            resource("managed", "aws_s3_bucket", bucket="logs"),
            resource("data", "aws_s3_bucket", bucket="read-only"),  # a lookup: not the stack's
            resource("managed", "aws_ecr_repository", name="app/server"),
            resource("managed", "aws_s3_bucket_policy", bucket="data"),
        ]
    }
    stores = stores_in_state(state)
    assert (stores.buckets, stores.repositories) == (("data", "logs"), ("app/server",))
    assert str(stores) == "2 bucket(s), 1 image repository(ies)"
    assert stores_in_state({}).buckets == ()


def test_the_probe_image_manifest_names_its_config_by_digest() -> None:
    manifest = json.loads(probe_manifest())
    assert manifest["schemaVersion"] == 2 and manifest["layers"] == []
    assert manifest["config"]["digest"] == f"sha256:{hashlib.sha256(b'{}').hexdigest()}"
