"""What CI ships and needs: the image's sources, the wheel, the system packages the tests drive.

No Docker engine runs here, so the Dockerfile is checked against the repository rather than built.
The wheel is built and installed for real, offline, from a copy of the work tree (what git tracks
or would add), so a file that exists only in a developer's tree cannot hide a gap.
"""
from __future__ import annotations

import configparser
import fnmatch
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path, PurePosixPath

import pytest
from setuptools.config.setupcfg import read_configuration

from truyvet.localpg import PostgresError, _bindir

ROOT = Path(__file__).resolve().parents[2]
NOT_SHIPPED = {"tests", "bench"}  # top-level packages kept out of the image and the wheel
BUILD_FILES = {"pyproject.toml", "setup.cfg"}  # read by `pip install .` besides the packages
PACKAGE_DATA = ["templates/base.html", "static/vendor/jsqr-1.4.0/jsQR.js"]  # of webapp
PROBE = """
import importlib, json, sys
from importlib.resources import files
from warehouse.migrate import load_migrations
packages, data = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(json.dumps({
    "modules": {name: importlib.import_module(name).__file__ for name in packages},
    "migrations": [migration.name for migration in load_migrations()],
    "data": {path: files("webapp").joinpath(path).is_file() for path in data},
}))
"""


@pytest.fixture(scope="module")
def files() -> list[str]:
    """The repository's files: tracked, or new and not ignored, as they are in the work tree."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return sorted({name for name in listed.split("\0") if name and os.path.lexists(ROOT / name)})


def top_level_packages(files: list[str]) -> set[str]:
    return {name.split("/")[0] for name in files if re.fullmatch(r"[^/]+/__init__\.py", name)} - NOT_SHIPPED


def dockerfile_copies(text: str) -> list[tuple[list[str], str]]:
    """``(sources, destination)`` of each COPY or ADD from the build context (not ``--from``)."""
    copies = []
    for line in text.replace("\\\n", " ").splitlines():
        instruction, _, rest = line.strip().partition(" ")
        if instruction.upper() not in ("COPY", "ADD"):
            continue
        flags = []
        while (rest := rest.strip()).startswith("--"):
            flag, _, rest = rest.partition(" ")
            flags.append(flag)
        if any(flag.startswith("--from=") for flag in flags):
            continue  # another stage or image, not the repository
        paths = json.loads(rest) if rest.startswith("[") else shlex.split(rest)
        sources = [PurePosixPath(path).as_posix() for path in paths[:-1] if "://" not in path]
        copies.append((sources, paths[-1]))
    return copies


def matches(name: str, source: str) -> bool:
    """Whether a COPY source (a path or a glob) takes the repository file or directory ``name``."""
    return source == "." or fnmatch.fnmatchcase(name, source) or fnmatch.fnmatchcase(name, source + "/*")


def setup_cfg() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(ROOT / "setup.cfg")
    return parser


def files_setup_cfg_reads() -> set[str]:
    """Files named by ``file:`` directives (the long description) that the build must find."""
    named = set()
    for section in setup_cfg().values():
        for value in section.values():
            if value.strip().startswith("file:"):
                named.update(path.strip() for path in value.strip()[len("file:"):].split(","))
    return named


def test_the_dockerfile_copies_only_what_the_repository_has(files):
    sources = [source for sources, _ in dockerfile_copies((ROOT / "Dockerfile").read_text()) for source in sources]
    assert sources, "no COPY found in the Dockerfile"
    absent = [source for source in sources if not any(matches(name, source) for name in files)]
    assert not absent, f"the Dockerfile copies {absent}, which the repository does not have: docker build fails"


def test_the_image_gets_every_package_and_what_pip_install_reads(files):
    copies = dockerfile_copies((ROOT / "Dockerfile").read_text())
    # COPY takes a directory's contents, so each package needs its own COPY to a path of its name.
    uncopied = sorted(
        package for package in top_level_packages(files)
        if not any(sources == ["."] or (len(sources) == 1 and matches(package, sources[0])
                                        and PurePosixPath(destination).name == package)
                   for sources, destination in copies))
    assert not uncopied, (f"the image lacks the packages {uncopied}: give each a line "
                          f"`COPY {uncopied[0]} {uncopied[0]}` in the Dockerfile")
    needed = BUILD_FILES | files_setup_cfg_reads()
    unread = sorted(path for path in needed
                    if not any(matches(path, source) for sources, _ in copies for source in sources))
    assert not unread, f"`pip install .` in the image needs {unread}: COPY them in the Dockerfile"
    patterns = [line.strip().lstrip("/").rstrip("/") for line in (ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.lstrip().startswith(("#", "!"))]
    ignored = sorted(path for path in top_level_packages(files) | needed
                     if any(fnmatch.fnmatchcase(path, pattern) for pattern in patterns))
    assert not ignored, f".dockerignore keeps {ignored} out of the build context that the image needs"


def test_setuptools_finds_every_package(files):
    include = [pattern.strip() for pattern in setup_cfg()["options.packages.find"]["include"].split(",")]
    left_out = sorted(package for package in top_level_packages(files)
                      if not any(fnmatch.fnmatchcase(package, pattern) for pattern in include))
    assert not left_out, f"setup.cfg's [options.packages.find] include leaves out the packages {left_out}"
    found = set(read_configuration(ROOT / "setup.cfg")["options"]["packages"])
    source_dirs = {str(PurePosixPath(name).parent).replace("/", ".") for name in files
                   if name.endswith(".py") and "/" in name
                   and any(fnmatch.fnmatchcase(name.split("/")[0], pattern) for pattern in include)}
    missing = sorted(source_dirs - found)
    assert not missing, f"setuptools does not find {missing}: a directory of Python modules needs an __init__.py"


def run(args: list[str | Path], hint: str = "", **kwargs) -> subprocess.CompletedProcess:
    env = {name: value for name, value in os.environ.items() if name not in ("PYTHONPATH", "PYTHONHOME")}
    done = subprocess.run([str(arg) for arg in args], capture_output=True, text=True, env=env, timeout=120,
                          stdin=subprocess.DEVNULL, **kwargs)
    assert done.returncode == 0, \
        f"{' '.join(map(str, args))} exited {done.returncode}:\n{done.stdout}{done.stderr}{hint}"
    return done


@pytest.fixture(scope="module")
def wheel(files, tmp_path_factory) -> Path:
    """The wheel built from a copy of the repository's files, offline, with this environment's setuptools."""
    work = tmp_path_factory.mktemp("packaging")
    source = work / "source"
    for name in files:
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, source / name, follow_symlinks=False)
    # Offline, so this environment's setuptools builds; --check-build-dependencies holds it to
    # pyproject.toml's build requirements, which the image's isolated build gets from the index.
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--check-build-dependencies",
         "--no-index", "--disable-pip-version-check", "--quiet", "--wheel-dir", work / "dist", source],
        hint="The test environment's setuptools must meet pyproject.toml's [build-system] requires: "
             "setup.cfg's test extra pins it; `make setup` installs it.")
    (built,) = (work / "dist").glob("*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel) -> Path:
    """A fresh virtualenv with the wheel installed and this environment's dependencies visible.

    A path in a ``.pth`` file joins ``sys.path`` but the ``.pth`` files inside it are not read, so
    this environment's editable install of the repository stays out: the project comes from the wheel.
    """
    venv = wheel.parent.parent / "venv"
    run([sys.executable, "-m", "venv", venv])  # the same interpreter the dependencies were built for
    run([venv / "bin" / "python", "-m", "pip", "install", "--no-deps", "--no-index", "--disable-pip-version-check",
         "--quiet", wheel])
    site_packages = run([venv / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"])
    dependencies = dict.fromkeys([sysconfig.get_path("purelib"), sysconfig.get_path("platlib")])
    (Path(site_packages.stdout.strip()) / "truyvet-dependencies.pth").write_text("\n".join(dependencies) + "\n")
    return venv


def test_the_wheel_holds_every_file_of_its_packages(files, wheel):
    packaged = set(zipfile.ZipFile(wheel).namelist())
    tops = {package.split(".")[0] for package in read_configuration(ROOT / "setup.cfg")["options"]["packages"]}
    left_out = [name for name in files if name.split("/")[0] in tops and name not in packaged]
    assert not left_out, f"not in the wheel: {left_out} (setup.cfg [options.package_data] names the data files)"


def test_the_wheel_installs_and_runs_outside_the_repository(files, venv, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert not elsewhere.resolve().is_relative_to(ROOT)
    assert "Usage: truyvet" in run([venv / "bin" / "truyvet", "--help"], cwd=elsewhere).stdout
    packages = sorted(top_level_packages(files))
    probe = run([venv / "bin" / "python", "-c", PROBE, json.dumps(packages), json.dumps(PACKAGE_DATA)],
                cwd=elsewhere)
    found = json.loads(probe.stdout)
    not_from_wheel = {name: path for name, path in found["modules"].items()
                      if not Path(path).resolve().is_relative_to(venv.resolve())}
    assert not not_from_wheel, f"imported from outside the installed wheel: {not_from_wheel}"
    assert found["migrations"], "the installed warehouse package has no migrations"
    assert found["data"] == dict.fromkeys(PACKAGE_DATA, True), "webapp's package data is not installed"


def test_a_missing_postgresql_fails_saying_what_to_install(tmp_path):
    with pytest.raises(PostgresError, match=re.escape("run `apt-get install postgresql` (make test does this)")):
        _bindir(versions=tmp_path, search_path=str(tmp_path))
