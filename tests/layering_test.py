#!/usr/bin/env python3
"""No module includes one above it (docs/architecture.md "Layers").

Reads every non-test source file of each top-level module and checks its
project includes against the modules it may use. Generated protobuf headers
("harmonia/v1/...") belong to proto/. Tests (*_test.cc), fuzz targets and
tests/, bench/ are free to include anything.
"""
import os
import re
import sys

# Each module, and the modules below it that it may include (itself always).
BELOW = {
    "common": set(),
    "proto": {"common"},
    "engine": {"common"},
    "exchange": {"common", "engine"},
    "store": {"common"},
    "auth": {"common"},
    "quality": {"common", "engine", "proto"},
    "cycle": {"common", "engine", "exchange", "store", "quality", "proto"},
    "delivery": {"common", "engine", "exchange", "store", "quality", "cycle", "proto"},
    "report": {"common", "engine", "exchange", "store", "quality", "cycle", "delivery", "proto"},
    "datagen": {"common", "engine", "exchange"},
    "typing": {"common", "engine"},
    "services": {"common", "engine", "exchange", "store", "quality", "cycle", "delivery", "report",
                 "proto", "auth"},
    # The console forwards over gRPC; it uses only the services' gRPC edge.
    "console": {"common", "proto", "auth", "services"},
    "cli": {"common", "engine", "exchange", "store", "quality", "cycle", "delivery", "report",
            "proto", "auth", "services", "datagen", "typing"},
}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([a-z_]+)/')


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.dirname(__file__))
    modules = set(BELOW) | {"tests", "bench"}
    wrong = []
    for module, allowed in BELOW.items():
        for dirpath, _, files in os.walk(os.path.join(root, module)):
            for name in sorted(files):
                if not name.endswith((".cc", ".h")) or name.endswith(("_test.cc", "_fuzz.cc")):
                    continue
                path = os.path.join(dirpath, name)
                with open(path, encoding="utf-8") as f:
                    for number, line in enumerate(f, 1):
                        m = INCLUDE.match(line)
                        if not m:
                            continue
                        target = "proto" if m.group(1) == "harmonia" else m.group(1)
                        if target in modules and target != module and target not in allowed:
                            wrong.append("%s:%d: %s includes %s/, which is not below it" %
                                         (os.path.relpath(path, root), number, module, target))
    for w in wrong:
        print(w)
    print("layering: %s" % ("%d includes go upwards" % len(wrong) if wrong else "every include goes down"))
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
