#!/usr/bin/env python3
"""Feeds mesolite's app echoes to the Marathon Python client (PyPI `marathon` 0.13).

Usage: MESOLITE_ECHO_DIR=DIR cargo test --lib test_echoes_for_the_python_client
       python3 scripts/marathon-client-echo.py DIR/seed.json DIR/mesos.json

For each file: MarathonApp.from_json(echo) must not raise (the client builds its models with
cls(**kwargs), so one field name it does not know is a TypeError); then prints what the
client sends back on update_app (to_json(minimal=True), version blanked), which the unit test
test_the_python_clients_json_parses holds as fixtures.
"""
import collections
import collections.abc
import json
import pathlib
import sys

# marathon 0.13 predates Python 3.10's removal of the collections aliases.
collections.Iterable = collections.abc.Iterable

from marathon.models import MarathonApp  # noqa: E402


def main(paths):
    failed = 0
    for path in paths:
        echo = json.loads(pathlib.Path(path).read_text())
        try:
            app = MarathonApp.from_json(echo)
        except Exception as e:  # the client's own error, whatever it is
            print(f"{path}: MarathonApp.from_json raised {type(e).__name__}: {e}")
            failed += 1
            continue
        app.version = None
        print(f"{path}: from_json ok")
        print(app.to_json(minimal=True))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
