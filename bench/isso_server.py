"""Isso, the comment server kibitz replaces, as its documentation deploys it.

Installed from PyPI into its own virtual environment (bench/.isso, ignored by git) and run
under gunicorn as Isso's deployment guide shows (``gunicorn -b HOST:PORT -w 4 --preload
isso.run``), with moderation off, its per-address limits raised so that one load generator
is not taken for a spammer, and loopback trusted as a proxy so that likes can come from
many addresses.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.data import SITE
from bench.servers import Server

HERE = Path(__file__).resolve().parent
ISSO_DIR = HERE / ".isso"
VENV = ISSO_DIR / "venv"
REQUIREMENTS = ("isso==0.14.0", "gunicorn==27.0.1")
WORKERS = 4  # the guide's command

CONFIG = """\
# Isso for the benchmark: the defaults, except what a load test needs
[general]
dbpath = {db}
host = {site}

[moderation]
enabled = false

[guard]
enabled = true
ratelimit = 1000000
direct-reply = 1000000

[server]
listen = http://127.0.0.1:{port}
trusted-proxies = 127.0.0.1
"""


def python() -> Path:
    return VENV / "bin" / "python"


def install(log: Any = print) -> None:
    marker = VENV / (".installed-" + "-".join(REQUIREMENTS).replace("=", ""))
    if marker.exists():
        return
    log(f"installing {', '.join(REQUIREMENTS)} into {VENV}")
    if VENV.exists():
        shutil.rmtree(VENV)
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    subprocess.run(
        [str(python()), "-m", "pip", "install", "-q", "--disable-pip-version-check",
         *REQUIREMENTS],
        check=True,
    )  # fmt: skip
    marker.touch()


def versions() -> dict[str, str]:
    out = subprocess.run(
        [str(python()), "-c",
         "from importlib.metadata import version as v; print(v('isso'), v('gunicorn'))"],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    return {"isso": out[0], "gunicorn": out[1]}


def write_config(path: Path, db: Path, port: int) -> Path:
    path.write_text(CONFIG.format(db=db, site=SITE, port=port))
    return path


def seed_db(kibitz_seed: Path, digest: str, log: Any = print) -> Path:
    """Isso's database with the seed's comments, built once per seed."""
    out = ISSO_DIR / f"seed-{digest}.db"
    if out.exists():
        return out
    for old in ISSO_DIR.glob("seed-*.db"):
        old.unlink()
    tmp = ISSO_DIR / "seed.db.tmp"
    cfg = write_config(ISSO_DIR / "load.cfg", tmp, 0)
    log("loading the seed into Isso's storage")
    subprocess.run(
        [str(python()), str(HERE / "isso_load.py"), str(cfg), str(kibitz_seed), str(tmp)],
        check=True,
    )
    tmp.rename(out)
    return out


def server(port: int, seed: Path, run_dir: Path) -> Server:
    db = run_dir / "isso.db"
    shutil.copyfile(seed, db)
    cfg = write_config(run_dir / "isso.cfg", db, port)
    return Server(
        name="isso",
        argv=[str(VENV / "bin" / "gunicorn"), "-b", f"127.0.0.1:{port}", "-w", str(WORKERS),
              "--preload", "isso.run"],
        port=port,
        ready_path="/config",
        env={"ISSO_SETTINGS": str(cfg)},
        workers=WORKERS,
        cwd=run_dir,
        log_path=run_dir / "isso.log",
    )  # fmt: skip
