#!/usr/bin/env python3
"""The two Quick start commands, with nothing but python3 on the machine.

    python3 dev.py demo     install, migrate, load the demo town, serve on http://127.0.0.1:8000
    python3 dev.py test     install the test dependencies and run the whole test suite

Both create .venv/ next to this file and reinstall only when a lock file changed.
Extra arguments after `test` go to pytest (e.g. `python3 dev.py test -k household`); the tests run on one
worker per core (pytest-xdist) unless `-n` or `-p no:xdist` is given.
"""

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / "python"


def ensure_venv(lock: str) -> None:
    if not PYTHON.exists():
        print("Création de l'environnement virtuel .venv …", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    lock_path = ROOT / lock
    stamp = VENV / f".installed-{lock}"
    digest = hashlib.sha256(lock_path.read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == digest:
        return
    print(f"Installation des dépendances ({lock}) …", flush=True)
    subprocess.run([PYTHON, "-m", "pip", "install", "--quiet", "--upgrade", "pip"], check=True)
    subprocess.run([PYTHON, "-m", "pip", "install", "--quiet", "-r", str(lock_path)], check=True)
    stamp.write_text(digest)


def manage(*args: str, env: dict | None = None) -> None:
    subprocess.run([PYTHON, str(ROOT / "manage.py"), *args], check=True, env=env)


def demo(argv: list[str]) -> int:
    ensure_venv("requirements.lock")
    env = {**os.environ, "DJANGO_DEBUG": os.environ.get("DJANGO_DEBUG", "1")}
    manage("migrate", "--noinput", "-v0", env=env)
    manage("load_demo", env=env)
    addr = argv[0] if argv else "127.0.0.1:8000"
    print(f"\nPortail Famille de démonstration : http://{addr}/  (Ctrl+C pour arrêter)\n", flush=True)
    try:
        manage("runserver", addr, "--noreload", env=env)
    except KeyboardInterrupt:
        pass
    return 0


def _parallel(argv: list[str]) -> list[str]:
    """One pytest worker per core (pytest-xdist) unless the caller chose (-n, -p no:xdist) or has one core."""
    chose = any(arg == "-n" or arg.startswith(("-n", "--numprocesses")) or arg == "no:xdist" for arg in argv)
    cores = os.cpu_count() or 1
    return [] if chose or cores < 2 else ["-n", str(min(cores, 4))]


def test(argv: list[str]) -> int:
    ensure_venv("requirements-test.lock")
    return subprocess.run([PYTHON, "-m", "pytest", *_parallel(argv), *argv], cwd=ROOT).returncode


def main() -> int:
    commands = {"demo": demo, "test": test}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        print(__doc__)
        return 2
    return commands[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
