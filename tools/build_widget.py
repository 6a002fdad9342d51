"""Build the widget kibitz serves: kibitz/static/{embed.js,embed.css,count.js} (the readable
sources) minified into kibitz/static/min/, which is committed, since a pip-installed kibitz
has no node. `make widget` runs this; tests/test_embed.py fails when the build is stale.

JavaScript goes through terser (pinned in package.json: another version may write other
bytes), which also shortens local names; CSS through rcssmin (comments and whitespace out).

    python tools/build_widget.py [--out DIR]
"""

from __future__ import annotations

import argparse
import subprocess
from pathlib import Path

import rcssmin

ROOT = Path(__file__).resolve().parent.parent
STATIC = ROOT / "kibitz" / "static"
OUT = STATIC / "min"
FILES = ("embed.js", "embed.css", "count.js")
TERSER = ROOT / "node_modules" / ".bin" / "terser"
# two compress passes find a little more to fold; --ecma 2020 lets it keep modern syntax
TERSER_ARGS = ("--compress", "passes=2", "--mangle", "--ecma", "2020", "--comments", "false")


def minify(name: str, source: str) -> str:
    """The minified text of one of the widget's files."""
    if name.endswith(".css"):
        return str(rcssmin.cssmin(source)) + "\n"
    if not TERSER.exists():
        raise SystemExit(f"{TERSER} is missing: run `make setup` (npm ci)")
    done = subprocess.run(  # noqa: S603 (our own terser, our own sources)
        [str(TERSER), *TERSER_ARGS], input=source, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"terser failed on {name}:\n{done.stderr}")
    return done.stdout.rstrip("\n") + "\n"


def build(out: Path = OUT) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name in FILES:
        target = out / name
        target.write_text(minify(name, (STATIC / name).read_text("utf-8")), "utf-8")
        written.append(target)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    for path in build(parser.parse_args().out):
        print(
            f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: "
            f"{path.stat().st_size} bytes"
        )


if __name__ == "__main__":
    main()
