"""Checks of AWS names and addresses that blocks and settings share (no constructs here).

Each returns None when the value is valid, else what is allowed.
"""

from __future__ import annotations

import re

_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")


def bucket_name_problem(name: str) -> str | None:
    """What is wrong with an S3 bucket name under AWS's general-purpose bucket rules."""
    rules = (
        "3-63 characters of lowercase letters, digits, '-' and '.', starting and ending "
        "with a letter or digit, no '..', not an IP address, no 'xn--'/'sthree-'/"
        "'amzn-s3-demo-' prefix, no '-s3alias'/'--ol-s3'/'.mrap'/'--x-s3' suffix"
    )
    bad = (
        not _BUCKET_RE.match(name)
        or ".." in name
        or re.fullmatch(r"\d+\.\d+\.\d+\.\d+", name) is not None
        or name.startswith(("xn--", "sthree-", "amzn-s3-demo-"))
        or name.endswith(("-s3alias", "--ol-s3", ".mrap", "--x-s3"))
    )
    return rules if bad else None


def email_problem(v: str) -> str | None:
    """What is wrong with an (optional) e-mail address, or None."""
    return None if v == "" or _EMAIL_RE.match(v) else "an e-mail address, or empty for none"
