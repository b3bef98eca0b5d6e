"""``python -m modules.config`` prints the effective settings as JSON;
``python -m modules.config --markdown`` prints the settings table (docs/settings.md has it
by section: ``python -m tools.docs.pages``)."""

from __future__ import annotations

import json
import sys

from modules.config.settings import SettingsError, load_settings
from modules.config.table import settings_table


def main(argv: list[str]) -> int:
    if argv[1:] == ["--markdown"]:
        print(settings_table())
        return 0
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    print(json.dumps(settings.model_dump(mode="json"), indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
