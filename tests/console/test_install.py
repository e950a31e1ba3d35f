"""`pe` as users install it: the sdist and the wheel built from it carry every file the
package needs, and the wheel, installed into a fresh venv, starts the console in a real
pseudo-terminal, connects, quits with ctrl+q and leaves no server behind."""

from __future__ import annotations

import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from tests.bench.bench_console_startup import launch_pe, terminal_env

REPO = Path(__file__).resolve().parents[2]
XDG = ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME")


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`python -m build`: the sdist, then the wheel built from that sdist (so a file missing
    from the sdist is missing from the wheel too)."""
    out = tmp_path_factory.mktemp("dist")
    built = subprocess.run([sys.executable, "-m", "build", "--outdir", str(out), str(REPO)],
                           capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    return out


def _package_files() -> set[str]:
    """What the installed package must hold: every module and data file under src/, and the
    shipped themes, where the build maps them."""
    files = {str(p.relative_to(REPO / "src")) for p in (REPO / "src" / "promptexecution").rglob("*")
             if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"}
    files |= {f"promptexecution/console/themes/{p.name}" for p in (REPO / "themes").iterdir()
              if p.is_file() and p.suffix in (".toml", ".py")}
    return files


def test_the_wheel_and_the_sdist_carry_every_file(dist: Path) -> None:
    wheel = next(dist.glob("promptexecution-*.whl"))
    in_wheel = set(zipfile.ZipFile(wheel).namelist())
    wanted = _package_files()
    assert "promptexecution/console/app.tcss" in wanted
    assert {f for f in wanted if f.endswith(".toml")} >= {
        "promptexecution/console/themes/pe-dark.toml",
        "promptexecution/console/themes/pe-light.toml",
        "promptexecution/console/themes/pe-solarized.toml"}
    assert wanted - in_wheel == set()
    stray = {f for f in in_wheel - wanted if not f.startswith("promptexecution-")}
    assert stray == set()  # nothing stale from an old build
    sdist = next(dist.glob("promptexecution-*.tar.gz"))
    with tarfile.open(sdist) as archive:
        in_sdist = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    assert {"themes/pe-dark.toml", "setup.py", "src/promptexecution/console/app.tcss",
            "README.md", "ARCHITECTURE.md"} <= in_sdist


def test_pe_from_the_wheel_starts_connects_and_quits(dist: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    wheel = next(dist.glob("promptexecution-*.whl"))
    installed = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", str(wheel)],
                               capture_output=True, text=True, timeout=900)
    assert installed.returncode == 0, installed.stderr[-2000:]
    pe = venv / "bin" / "pe"
    version = subprocess.run([str(pe), "--version"], capture_output=True, text=True, timeout=60)
    assert version.stdout.strip() == "pe 0.1.0", version
    # A new user's machine: empty config, data, state and cache dirs.
    xdg = {name: str(tmp_path / "home" / name.lower()) for name in XDG}
    data_dir = tmp_path / "home" / "data"
    env = terminal_env({"PE_DATA_DIR": str(data_dir),
                        "PE_CONFIG": str(tmp_path / "home" / "config.toml"), **xdg})
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    launch = launch_pe(env, cwd, data_dir, expect_started=True, pe=pe)
    # First frame, "● connected", a `pe serve` of its own below it, exit 0 on ctrl+q, that
    # server stopped and server.json gone: launch_pe checks each and says what failed.
    assert launch.problems == [], launch.problems
    assert any(" serve " in f"{cmd} " and str(venv) in cmd for cmd in launch.children.values())
