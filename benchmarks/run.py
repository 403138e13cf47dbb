"""Runs every benchmarks/bench_*.py module and writes docs/benchmarks.md with the machine and date.

Each module has `TITLE` and `run() -> str` returning a Markdown section (figures with their targets).
`python -m benchmarks.run NAME...` runs only the named modules and keeps the other sections.
"""
from __future__ import annotations

import importlib
import os
import platform
import pkgutil
import re
import sys
from datetime import datetime, timezone
from pathlib import Path

import benchmarks

OUT = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB RAM, {platform.system()} "
            f"{platform.release()}, Python {platform.python_version()}")


def existing_sections() -> dict[str, str]:
    if not OUT.exists():
        return {}
    parts = re.split(r"^(?=## )", OUT.read_text(encoding="utf-8"), flags=re.M)
    return {p.splitlines()[0][3:].strip(): p for p in parts if p.startswith("## ")}


def main(argv: list[str]) -> int:
    names = sorted(m.name for m in pkgutil.iter_modules(benchmarks.__path__) if m.name.startswith("bench_"))
    chosen = [n for n in names if not argv or n.removeprefix("bench_") in argv or n in argv]
    sections = existing_sections()
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    for name in chosen:
        module = importlib.import_module(f"benchmarks.{name}")
        print(f"== {module.TITLE}", flush=True)
        body = module.run().strip()
        print(body, flush=True)
        sections[module.TITLE] = f"## {module.TITLE}\n\n_Measured {stamp} on {machine()}._\n\n{body}\n\n"
    header = ("# Benchmarks\n\nWritten by `make bench` (`python -m benchmarks.run [NAME...]`); each "
              "section says when and on what machine it was measured.\n\n")
    OUT.write_text(header + "".join(sections[k] for k in sorted(sections)), encoding="utf-8")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
