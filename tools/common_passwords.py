"""Regenerate ``core/data/common_passwords.txt`` from the zxcvbn package's password list.

    pip download zxcvbn==4.5.0 --no-deps -d /tmp/zx && python tools/common_passwords.py /tmp/zx/zxcvbn-4.5.0-py2.py3-none-any.whl

The list is zxcvbn's "passwords" frequency list (MIT licence, see the header the script writes);
only entries of six or more characters are kept: shorter ones are refused by length anyway, and a
six-letter word followed by digits ("dragon123456") is caught by the base-word rule in core.auth.
"""
from __future__ import annotations

import sys
import zipfile
from pathlib import Path

HEADER = """# Common passwords, most frequent first: every entry of six or more characters from the
# "passwords" frequency list of the zxcvbn package 4.5.0 on PyPI (zxcvbn/frequency_lists.py),
# MIT licence, Copyright (c) 2016 Daniel Wolf (Python port of Dropbox's zxcvbn, Copyright (c)
# 2012-2016 Dan Wheeler and Dropbox, Inc., MIT). Regenerate with tools/common_passwords.py.
"""
TARGET = Path(__file__).resolve().parent.parent / "core" / "data" / "common_passwords.txt"


def main(wheel: str) -> None:
    namespace: dict = {}
    with zipfile.ZipFile(wheel) as zf:
        exec(zf.read("zxcvbn/frequency_lists.py").decode("utf-8"), namespace)  # plain data, a dict of strings
    words = namespace["FREQUENCY_LISTS"]["passwords"]
    seen: dict[str, None] = {}
    for word in words:
        if len(word) >= 6:
            seen.setdefault(word.lower(), None)
    TARGET.write_text(HEADER + "\n".join(seen) + "\n", encoding="utf-8")
    print(f"{len(seen)} passwords written to {TARGET}")


if __name__ == "__main__":
    main(sys.argv[1])
