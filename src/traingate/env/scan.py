"""Read a Python environment from disk: its site dirs, distributions and files.

Nothing here imports or runs code from the environment (issue #20): RECORD,
METADATA, direct_url.json and .pth files are read as text, every other file
is only hashed.
"""

from __future__ import annotations

import base64
import binascii
import csv
import hashlib
import io
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

from traingate.errors import UsageError

_CHUNK = 1 << 20
_HASHES = frozenset({"sha256", "sha384", "sha512"})  # the wheel spec: sha256 or better
_PYC_RE = re.compile(r"(?P<stem>.+)\.(?P<tag>[a-z]+-\d+)(?:\.opt-(?P<opt>[12]))?\.pyc")
# The files pip (and uv) list in RECORD without a hash: RECORD itself, and the
# pyc files pip compiles at install time (they are checked against their source).
CUSTOMIZE = ("sitecustomize.py", "usercustomize.py")


def normalize(name: str) -> str:
    """PEP 503 name normalization: what ``--only torch,Transformers`` matches against."""
    return re.sub(r"[-_.]+", "-", name).lower()


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def digest_file(path: str, algo: str) -> str:
    """``algo=<urlsafe base64, no padding>`` as RECORD writes it."""
    h = hashlib.new(algo)
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return f"{algo}=" + base64.urlsafe_b64encode(h.digest()).rstrip(b"=").decode()


def record_hex(value: str) -> str | None:
    """The sha256 hex of a RECORD ``sha256=...`` value (None: another algorithm)."""
    algo, _, b64 = value.partition("=")
    if algo != "sha256":
        return None
    try:
        raw = base64.urlsafe_b64decode(b64 + "=" * (-len(b64) % 4))
    except (binascii.Error, ValueError):
        return None
    return raw.hex() if len(raw) == 32 else None


@dataclass
class Python:
    version: str  # "3.11.7" or "3.11"
    cache_tag: str  # "cpython-311"
    executable: str | None
    stdlib: str | None


@dataclass
class Environment:
    kind: str  # venv | conda | site-packages
    prefix: str  # every RECORD path must stay inside it
    site_packages: list[str]
    python: Python
    user_site: str | None = None  # searched for .pth and customize files only


@dataclass
class Owned:
    path: str  # absolute, normalized
    record_hash: str | None  # "sha256=..." or None (RECORD itself, pip's pycs)


@dataclass
class Distribution:
    name: str  # as in METADATA
    key: str  # normalized
    version: str
    dist_info: str
    site: str
    record: str
    installer: str
    files: list[Owned] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # unreadable RECORD lines etc.
    editable_url: str | None = None


# --------------------------------------------------------------------------- discovery


def discover(env: str | None, site_packages: list[str]) -> Environment:
    """The environment at ``env`` (a venv or conda prefix), or explicit site dirs."""
    if site_packages:
        if env:
            raise UsageError("--env and --site-packages cannot be combined")
        dirs = [os.path.abspath(p) for p in site_packages]
        for d in dirs:
            if not os.path.isdir(d):
                raise UsageError(f"--site-packages {d} is not a directory")
        py = _python_from_layout(dirs[0], None)
        prefix = _prefix_of(dirs[0])
        return Environment("site-packages", prefix, dirs, py)
    if not env:
        env = os.environ.get("VIRTUAL_ENV") or os.environ.get("CONDA_PREFIX")
    if not env:
        raise UsageError(
            "no environment given",
            help="pass --env PREFIX (a venv or conda env) or --site-packages DIR",
        )
    prefix = os.path.abspath(env)
    cfg = os.path.join(prefix, "pyvenv.cfg")
    if os.path.isfile(cfg):
        return _venv(prefix, cfg)
    if os.path.isdir(os.path.join(prefix, "conda-meta")):
        sites = sorted(str(p) for p in Path(prefix).glob("lib/python3*/site-packages"))
        if len(sites) != 1:
            raise UsageError(f"conda env {prefix}: expected one lib/python3.X/site-packages")
        exe = os.path.join(prefix, "bin", "python")
        py = _python_from_layout(sites[0], exe if os.path.exists(exe) else None)
        py.stdlib = str(Path(sites[0]).parent)
        user = os.path.expanduser(f"~/.local/lib/python{_major_minor(py.version)}/site-packages")
        return Environment("conda", prefix, sites, py, user_site=user)
    raise UsageError(
        f"{prefix} is neither a venv (no pyvenv.cfg) nor a conda env (no conda-meta/)",
        help="pass the environment's site-packages with --site-packages DIR",
    )


def _venv(prefix: str, cfg: str) -> Environment:
    values: dict[str, str] = {}
    with open(cfg, encoding="utf-8") as fh:
        for line in fh:
            key, sep, value = line.partition("=")
            if sep:
                values[key.strip().lower()] = value.strip()
    sites = sorted(str(p) for p in Path(prefix).glob("lib/python3*/site-packages"))
    if len(sites) != 1:
        raise UsageError(f"venv {prefix}: expected one lib/python3.X/site-packages, found {sites}")
    exe = os.path.join(prefix, "bin", "python")
    py = _python_from_layout(sites[0], exe if os.path.lexists(exe) else None)
    version = values.get("version") or values.get("version_info")
    if version:
        py.version = version
    home = values.get("home")
    mm = _major_minor(py.version)
    if home:
        stdlib = os.path.join(os.path.dirname(home.rstrip("/")), "lib", f"python{mm}")
        py.stdlib = stdlib if os.path.isdir(stdlib) else None
        if values.get("include-system-site-packages", "false").lower() == "true":
            # The base's site-packages are on the job's path too (issue #20).
            base = os.path.join(stdlib, "site-packages")
            if os.path.isdir(base):
                sites.append(base)
    return Environment("venv", prefix, sites, py)


def _major_minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


def _python_from_layout(site: str, exe: str | None) -> Python:
    m = re.search(r"python(\d)\.(\d+)", site)
    if not m:
        raise UsageError(f"cannot tell the Python version of {site} (no pythonX.Y in its path)")
    version = f"{m.group(1)}.{m.group(2)}"
    return Python(version, f"cpython-{m.group(1)}{m.group(2)}", exe, None)


def _prefix_of(site: str) -> str:
    p = Path(site)
    if p.name == "site-packages" and p.parent.name.startswith("python"):
        return str(p.parent.parent.parent)
    return str(p)


# --------------------------------------------------------------------------- distributions


def distributions(env: Environment) -> list[Distribution]:
    out: list[Distribution] = []
    for site in env.site_packages:
        try:
            names = sorted(os.listdir(site))
        except OSError as exc:
            raise UsageError(f"cannot list {site}: {exc.strerror}") from exc
        for name in names:
            if name.endswith(".dist-info") and os.path.isdir(os.path.join(site, name)):
                out.append(_distribution(env, site, os.path.join(site, name)))
    return out


def _distribution(env: Environment, site: str, info: str) -> Distribution:
    meta = _read_text(os.path.join(info, "METADATA")) or ""
    name = _header(meta, "Name") or os.path.basename(info).split("-")[0]
    version = _header(meta, "Version") or "?"
    installer = (_read_text(os.path.join(info, "INSTALLER")) or "").strip()
    record = os.path.join(info, "RECORD")
    dist = Distribution(name, normalize(name), version, info, site, record, installer)
    text = _read_text(record)
    if text is None:
        dist.problems.append(f"{record}: no RECORD; its files cannot be verified")
    else:
        _parse_record(env, dist, text)
    direct = _read_text(os.path.join(info, "direct_url.json"))
    if direct:
        dist.editable_url = _editable_url(direct)
    return dist


def _parse_record(env: Environment, dist: Distribution, text: str) -> None:
    seen: set[str] = set()
    root = os.path.abspath(env.prefix) + os.sep
    for n, row in enumerate(csv.reader(io.StringIO(text)), 1):
        if not row:
            continue
        if len(row) != 3:
            dist.problems.append(f"{dist.record} line {n}: not `path,hash,size`")
            continue
        rel, value, _size = row
        path = os.path.normpath(os.path.join(dist.site, rel))
        if not (path + os.sep).startswith(root) and not path.startswith(root):
            dist.problems.append(
                f"{dist.record} line {n}: {rel} lies outside the environment ({env.prefix})"
            )
            continue
        if path in seen:
            continue
        seen.add(path)
        if value:
            algo = value.partition("=")[0]
            if algo not in _HASHES:
                dist.problems.append(f"{dist.record} line {n}: {rel}: hash {algo!r} not accepted")
                continue
        dist.files.append(Owned(path, value or None))


def _header(meta: str, key: str) -> str | None:
    for line in meta.splitlines():
        if not line.strip():
            break  # headers end at the first blank line
        k, sep, v = line.partition(":")
        if sep and k.strip().lower() == key.lower():
            return v.strip()
    return None


def _editable_url(text: str) -> str | None:
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("dir_info"), dict):
        return None
    if data["dir_info"].get("editable") is True and isinstance(data.get("url"), str):
        return str(data["url"])
    return None


def editable_path(url: str) -> str | None:
    parsed = urlparse(url)
    if parsed.scheme != "file":
        return None
    return unquote(parsed.path)


def _read_text(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read()
    except OSError:
        return None


# --------------------------------------------------------------------------- files


def walk(directory: str) -> list[str]:
    """Every non-directory entry under ``directory`` (symlinks not followed)."""
    out: list[str] = []
    for dirpath, dirnames, filenames in os.walk(directory):
        dirnames.sort()
        for d in list(dirnames):
            if os.path.islink(os.path.join(dirpath, d)):
                out.append(os.path.join(dirpath, d))  # a linked dir is an entry of its own
                dirnames.remove(d)
        out.extend(os.path.join(dirpath, f) for f in sorted(filenames))
    return out


def pyc_source(path: str, cache_tag: str) -> tuple[str, int] | None:
    """(source, optimize) for ``pkg/__pycache__/mod.<tag>[.opt-N].pyc`` of the
    environment's interpreter; None for anything else (other interpreters'
    pycs are never loaded by this one, so they are ordinary files)."""
    parent = os.path.dirname(path)
    if os.path.basename(parent) != "__pycache__":
        return None
    m = _PYC_RE.fullmatch(os.path.basename(path))
    if not m or m.group("tag") != cache_tag:
        return None
    source = os.path.join(os.path.dirname(parent), m.group("stem") + ".py")
    return source, int(m.group("opt") or 0)


def pth_lines(path: str) -> tuple[list[str], list[str]]:
    """(executable lines, path lines) of a .pth file, read as site.py reads it."""
    text = _read_text(path) or ""
    execs: list[str] = []
    paths: list[str] = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        if line.startswith(("import ", "import\t")):
            execs.append(line.strip())
        else:
            paths.append(line.rstrip())
    return execs, paths


def search_dirs(env: Environment, extra: list[str]) -> list[str]:
    """Where the interpreter looks for sitecustomize/usercustomize: the standard
    library, the site dirs, directories .pth files add, and PYTHONPATH."""
    dirs: list[str] = []
    if env.python.stdlib:
        dirs += [env.python.stdlib, os.path.join(env.python.stdlib, "lib-dynload")]
    for site in env.site_packages:
        dirs.append(site)
        for entry in sorted(os.listdir(site)):
            if entry.endswith(".pth"):
                _, paths = pth_lines(os.path.join(site, entry))
                dirs += [os.path.normpath(os.path.join(site, p)) for p in paths]
    if env.user_site:
        dirs.append(env.user_site)
    dirs += extra
    seen: list[str] = []
    for d in dirs:
        if d not in seen and os.path.isdir(d):
            seen.append(d)
    return seen
