"""Packs an extension script and this SDK into one executable file (a zipapp), for registries.

    python3 -m gofer_extension.pack my_task.py -o dist/my-task

A registry entry's `path` or `url` names one executable; the packed file is that executable: it runs
with any Python ≥ 3.9 on the server (`#!/usr/bin/env python3`) and needs nothing installed there.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import stat
import sys
import zipfile
from pathlib import Path
from typing import List, Optional

SHEBANG = b"#!/usr/bin/env python3\n"


def pack(script: Path, output: Path) -> str:
    """Writes the packed executable; returns its SHA-256 (lower-case hex), as a registry entry wants."""
    package = Path(__file__).resolve().parent
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        # Fixed times and order: the same inputs give the same bytes (and the same SHA-256).
        def add(name: str, data: bytes) -> None:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)

        add("__main__.py", script.read_bytes())
        for source in sorted(package.glob("*.py")) + [package / "py.typed"]:
            if source.exists():
                add("gofer_extension/" + source.name, source.read_bytes())
    data = SHEBANG + buffer.getvalue()
    output.parent.mkdir(parents=True, exist_ok=True)
    temporary = output.with_name(output.name + ".tmp")
    temporary.write_bytes(data)
    os.chmod(temporary, os.stat(temporary).st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    os.replace(temporary, output)
    return hashlib.sha256(data).hexdigest()


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m gofer_extension.pack", description=__doc__.split("\n\n")[0])
    parser.add_argument("script", type=Path, help="the extension's script (it calls serve(...))")
    parser.add_argument("-o", "--output", type=Path, required=True, help="the executable to write")
    args = parser.parse_args(argv)
    if not args.script.is_file():
        parser.error("no such script: %s" % args.script)
    digest = pack(args.script, args.output)
    print("%s  %s" % (digest, args.output))
    return 0


if __name__ == "__main__":
    sys.exit(main())
