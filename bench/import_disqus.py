"""Time `kibitz import disqus` on a generated export, as a publisher runs it, and print the
wall time and peak memory (of the import process and its rendering workers).

    python bench/import_disqus.py                # 100,000 comments into a new SQLite file
    python bench/import_disqus.py --comments 20000 --database postgresql://postgres@127.0.0.1/bench

The goal (issue 10): 100,000 comments in under a minute, in bounded memory.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).parent
KIBITZ = str(Path(sys.executable).with_name("kibitz"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--comments", type=int, default=100_000)
    parser.add_argument("--database", default=None, help="default: a new SQLite file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        export = Path(tmp) / "disqus.xml"
        subprocess.run([sys.executable, str(HERE / "disqus_export.py"), str(export),
                        "--comments", str(args.comments)], check=True)  # fmt: skip
        env = {**os.environ, "KIBITZ_DATABASE_URL": args.database or f"sqlite:///{tmp}/b.db",
               "KIBITZ_LOG_LEVEL": "warning"}  # fmt: skip
        subprocess.run([KIBITZ, "migrate"], env=env, check=True, capture_output=True)
        size = export.stat().st_size / 1e6
        run = subprocess.run(
            ["/usr/bin/time", "-v", KIBITZ, "import", "disqus", str(export), "--no-progress"],
            env=env, capture_output=True, text=True, check=True,
        )  # fmt: skip
        print(run.stdout.strip())
        wall = re.search(r"Elapsed \(wall clock\) time.*: (\S+)", run.stderr)
        rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", run.stderr)
        cpu = re.search(r"Percent of CPU this job got: (\S+)", run.stderr)
        print(f"{args.comments:,} comments, {size:.0f} MB of XML: wall {wall and wall.group(1)}, "
              f"peak memory {int(rss.group(1)) // 1024 if rss else '?'} MB, "
              f"CPU {cpu and cpu.group(1)}")  # fmt: skip


if __name__ == "__main__":
    main()
