"""Download every wheel carousel needs into one folder, for a node that reaches no package
index: ``python3 scripts/wheelhouse.py DIR [--python-version 3.11] [--platform TAG]
[--extras test,cuda13] [--exclude NAME,...] [--have FILE]``; then on the node
``make install-offline WHEELS=DIR`` (conf/README.md, "Installing on a GPU node without
internet").

Runs with any ``python3`` >= 3.11 and its pip, before carousel or any of its dependencies
is installed: it imports nothing but the standard library and pip. Steps:

1. The requirements are read from ``pyproject.toml``: the dependencies, each extra asked
   for (an extra naming ``carousel[...]`` brings in those extras), and the build
   backend's (``[build-system] requires``), so that ``pip install --no-index -e .`` can
   build carousel itself.
2. pip resolves them for the target (``pip install --dry-run --report`` with
   ``--python-version``, ``--platform``, ``--implementation cp``, ``--only-binary=:all:``):
   versions only, no wheel downloaded. The packages of ``--have`` (``pip freeze`` on the
   node) are pinned to the node's versions while resolving, so the set fits what the node
   keeps; one that carousel cannot use (a NumPy 1.x) is unpinned and kept, with a warning.
   A package published as source only (antlr4-python3-runtime, which omegaconf needs) is
   built here into a wheel, which must be pure Python (``-none-any``).
3. The packages of ``--exclude`` and ``--have`` are left out (never the build backend: pip
   builds in an isolated environment that does not see the node's packages), and the
   others are downloaded by ``pip download --no-deps`` from where the resolution found
   them, their hashes checked.
4. DIR gets ``requirements.txt`` (the pinned set in the folder) and ``MANIFEST`` (each
   wheel with its size, then the count and the total).

The default platform, ``manylinux_2_28_x86_64``, is glibc 2.28 (RHEL and Rocky 8, Ubuntu
20.04 has 2.31): the oldest C library still common on clusters, and newer than what
jaxlib needs (2.27). A ``manylinux_2_X`` or ``musllinux_1_X`` tag also accepts the wheels
built for older C libraries (``manylinux2014`` = 2.17 and the like), as pip does on the
node itself; aarch64 nodes (GH200) take ``manylinux_2_28_aarch64``. pip's own
configuration (index, extra index, certificates) applies; ``--index-url`` and
``--extra-index-url`` are passed on. Errors are one line on stderr and exit 2. Needs pip
22.2 or newer (``--dry-run --report``; tried with 23.2 and 26.3); a recent pip resolves
faster (the set without extras: 7 s with pip 26.3, 22 s with pip 23.2, on 2 busy cores).
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_PLATFORM = "manylinux_2_28_x86_64"
LEGACY_MANYLINUX = {"manylinux2014": 17, "manylinux2010": 12, "manylinux1": 5}
NAME = re.compile(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?")
# what pip's failed resolution names: "omegaconf 2.3.1 depends on antlr4-python3-runtime==4.9.*",
# "Could not find a version that satisfies the requirement foo>=2 (from versions: ...)"
WANTED = re.compile(r"depends on (\S+(?: and [^;\s]+)*)|satisfies the requirement (\S+)")
NETWORK = re.compile(
    r"NewConnectionError|Max retries exceeded|Temporary failure in name resolution|Name or service not known"
    r"|Network is unreachable|Connection refused|ConnectTimeout|ProxyError|No route to host"
)


class Failure(Exception):
    """What went wrong, in one line for the user (``output``: pip's, if pip failed)."""

    def __init__(self, message: str, output: str = "") -> None:
        super().__init__(message)
        self.output = output


def normalise(name: str) -> str:
    """A package (or extra) name as PEP 503 compares them."""
    return re.sub(r"[-_.]+", "-", name).lower()


def platforms(tags: str) -> list[str]:
    """The platform tags pip accepts for ``tags`` (comma-separated): a ``manylinux_2_X`` or
    ``musllinux_1_X`` tag with every older one of its architecture, as on the node."""
    out: list[str] = []
    for tag in filter(None, (t.strip() for t in tags.split(","))):
        prefix, _, arch = tag.partition("_")
        if prefix in LEGACY_MANYLINUX:
            tag, prefix, arch = f"manylinux_2_{LEGACY_MANYLINUX[prefix]}_{arch}", "manylinux", arch
        m = re.fullmatch(r"(manylinux|musllinux)_(\d+)_(\d+)_(\w+)", tag)
        if not m:
            out.append(tag)
            continue
        kind, major, minor, arch = m.group(1), int(m.group(2)), int(m.group(3)), m.group(4)
        lowest = 5 if kind == "manylinux" else 1
        out += [f"{kind}_{major}_{v}_{arch}" for v in range(minor, lowest - 1, -1)]
        if kind == "manylinux" and major == 2:
            out += [f"{old}_{arch}" for old, v in LEGACY_MANYLINUX.items() if v <= minor]
    if not out:
        raise Failure("--platform names no tag")
    return list(dict.fromkeys(out))


def project_requirements(pyproject: dict, extras: list[str]) -> tuple[list[str], list[str]]:
    """The requirement strings of the dependencies and the extras (an extra that names the
    project itself brings in its extras), and those of the build backend."""
    project = pyproject["project"]
    optional = {normalise(k): v for k, v in project.get("optional-dependencies", {}).items()}
    unknown = [e for e in extras if normalise(e) not in optional]
    if unknown:
        valid = ", ".join(project.get("optional-dependencies", {})) or "none"
        raise Failure(f"unknown extra {unknown[0]!r}; pyproject.toml defines: {valid}")
    reqs, seen, todo = list(project.get("dependencies", [])), set(), [normalise(e) for e in extras]
    while todo:
        extra = todo.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for req in optional[extra]:
            m = NAME.match(req)
            if m and normalise(m.group(1)) == normalise(project["name"]):
                todo += [normalise(e) for e in (m.group(2) or "").split(",") if e.strip()]
            else:
                reqs.append(req)
    return reqs, list(pyproject.get("build-system", {}).get("requires", ["setuptools"]))


def read_have(path: Path) -> dict[str, str]:
    """``pip freeze`` output: normalised name -> version ("" when the line pins none, as
    ``name @ URL``). Local version labels (``+cuda12``) are dropped: ``==1.2`` matches them."""
    try:
        text = path.read_text()
    except OSError as e:
        raise Failure(f"cannot read --have {path}: {e.strerror or e}") from None
    have: dict[str, str] = {}
    for line in text.splitlines():
        line = re.sub(r"(^|\s)#.*", "", line).strip()
        if line.startswith(("-e ", "--editable")):
            if m := re.search(r"#egg=([\w.-]+)", line):
                have[normalise(m.group(1))] = ""
            continue
        if not line or line.startswith("-") or not (m := NAME.match(line)):
            continue
        pin = re.match(r"\s*===?\s*([^\s;,*]+)\s*$", line[m.end() :])
        have[normalise(m.group(1))] = pin.group(1).split("+")[0] if pin else ""
    return have


def pip(args: list[str], doing: str) -> str:
    """Run this interpreter's pip; its output, or a one-line Failure saying what failed."""
    cmd = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    out = proc.stdout + proc.stderr
    if proc.returncode == 0:
        return out
    if m := NETWORK.search(out):
        raise Failure(f"no package index reachable while {doing} ({m.group()}); check pip's index settings")
    lines = [ln.strip() for ln in out.splitlines() if ln.strip()]
    errors = [ln.removeprefix("ERROR: ").rstrip(".") for ln in lines if ln.startswith("ERROR:")]
    errors = [e for e in errors if not e.startswith(("ResolutionImpossible", "Ignored the following"))]
    conflict = "The conflict is caused by:"
    cause = lines[lines.index(conflict) + 1 :] if conflict in lines else []
    cause = list(itertools.takewhile(lambda ln: not ln.startswith("To fix"), cause))[:4]
    detail = "; ".join(errors[-1:] + cause) or (lines[-1] if lines else f"pip exited {proc.returncode}")
    raise Failure(f"pip failed {doing}: {detail}", out)


def resolve(reqs: list[str], options: list[str], tmp: Path, doing: str) -> list[dict]:
    """pip's resolution of ``reqs`` (its report's ``install`` items), downloading no wheel."""
    report = tmp / "report.json"
    args = ["install", "--dry-run", "--ignore-installed", "--progress-bar", "off", "--report", str(report)]
    pip([*args, "--target", str(tmp / "target"), *options, *reqs], doing)
    return json.loads(report.read_text())["install"]


def build_source_only(failure: Failure, target: list[str], index: list[str], built: Path, tmp: Path) -> bool:
    """Wheels, in ``built``, of the packages that pip's failed resolution names and that
    have no wheel for the target (pip's output says no more): each is built here from its
    source, and must be pure Python. Whether any was built."""
    done = False
    python, platform = (target[target.index(option) + 1] for option in ("--python-version", "--platform"))
    where = f"Python {python} on {platform}"
    for m in WANTED.finditer(failure.output):
        spec = (m.group(1) or m.group(2)).replace(" and ", ",").rstrip(";")
        name = normalise(spec_name.group(1)) if (spec_name := NAME.match(spec)) else ""
        if not name or any(normalise(w.name.split("-")[0]) == name for w in built.glob("*.whl")):
            continue
        try:
            resolve([spec], [*target, "--no-deps", *index], tmp, f"looking for a wheel of {spec}")
            continue  # the target has one: the failure is a conflict, not a missing wheel
        except Failure:
            pass
        print(f"building a wheel of {spec} from its source (no wheel fits the target)")
        try:
            pip(["wheel", "--no-deps", "--no-binary", name, "-q", "-w", str(built), *index, spec], "building")
        except Failure as e:
            raise Failure(f"{spec}: no wheel for {where} (or an older C library), and {e}") from None
        for wheel in built.glob("*.whl"):
            if normalise(wheel.name.split("-")[0]) == name and not wheel.name.endswith("-none-any.whl"):
                raise Failure(f"{spec}: no wheel for {where}, and its source builds {wheel.name} here")
        done = True
    return done


def resolve_target(
    reqs: list[str], target: list[str], index: list[str], pinned: list[str], tmp: Path
) -> list:
    """The target's resolution of ``reqs`` (``pinned``: pip's ``-c FILE`` options, if any);
    when it fails on a package published as source only, that one is built into a wheel
    and it is tried again."""
    built = tmp / "built"
    built.mkdir(exist_ok=True)
    target = [*target, "--only-binary=:all:", "--find-links", str(built)]
    while True:
        try:
            return resolve(reqs, [*target, *index, *pinned], tmp, "resolving for the target")
        except Failure as e:
            if "no package index reachable" in str(e):
                raise
            if not build_source_only(e, target, index, built, tmp):
                hint = "; the node's versions (--have) took part: drop from it what carousel needs newer"
                raise Failure(f"{e}{hint if pinned else ''}", e.output) from None


def resolve_with_have(reqs: list[str], target: list[str], index: list[str], have: dict, tmp: Path) -> list:
    """The target's resolution with the node's versions pinned; a node's package that
    carousel cannot use (pip's "The user requested (constraint) numpy==1.26.4") is dropped
    from ``have``, so that its wheel goes in the folder, with a warning."""
    while True:
        (tmp / "have.txt").write_text("".join(f"{n}=={v}\n" for n, v in have.items() if v))
        pinned = ["-c", str(tmp / "have.txt")] if any(have.values()) else []
        try:
            return resolve_target(reqs, target, index, pinned, tmp)
        except Failure as e:
            clash = {normalise(n) for n in re.findall(r"\(constraint\) ([\w.-]+)==", e.output)} & have.keys()
            if not clash:
                raise
            for name in sorted(clash):
                version = have.pop(name)
                print(
                    f"warning: the node's {name} {version} does not fit carousel; its wheel goes in",
                    file=sys.stderr,
                )


def download(items: list[dict], built: Path, out: Path, target: list[str], tmp: Path) -> list[Path]:
    """The wheels of the resolution's ``items`` in ``out``: copied from ``built``, or
    downloaded by pip from where the resolution found them, their hashes checked; their paths."""
    files: list[Path] = []
    fetch = []
    for item in items:
        url = item["download_info"]["url"]
        hashes = item["download_info"].get("archive_info", {}).get("hashes", {})
        if url.startswith(built.as_uri()):
            files.append(Path(shutil.copy2(built / url.rsplit("/", 1)[1], out)))
        else:
            fetch.append(f"{url}#sha256={hashes['sha256']}" if "sha256" in hashes and "#" not in url else url)
    (tmp / "urls.txt").write_text("".join(f"{u}\n" for u in fetch))
    print(f"downloading {len(fetch)} wheels into {out}")
    args = ["download", "--no-deps", "--progress-bar", "off", "-d", str(out), "-r", str(tmp / "urls.txt")]
    log = pip([*args, *target, "--only-binary=:all:"], "downloading") if fetch else ""
    for m in re.finditer(r"^\s*(?:Saved|File was already downloaded) (\S+\.whl)\s*$", log, re.MULTILINE):
        files.append(Path(m.group(1)))
    if len(files) != len(items):
        raise Failure(f"pip downloaded {len(files)} wheels for {len(items)} packages")
    return sorted({f.resolve() for f in files})


def write_lists(out: Path, pins: list[str], wheels: list[Path], header: str) -> str:
    """requirements.txt and MANIFEST in ``out``; the MANIFEST's last line."""
    (out / "requirements.txt").write_text("".join(f"{p}\n" for p in pins))
    total = sum(w.stat().st_size for w in wheels)
    rows = [f"{w.name}  {w.stat().st_size / 1e6:.1f} MB" for w in wheels]
    summary = f"{len(wheels)} wheels, {total / 1e6:.1f} MB"
    (out / "MANIFEST").write_text("\n".join([header, *rows, summary]) + "\n")
    return summary


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    p = argparse.ArgumentParser(prog="wheelhouse.py", description=__doc__.split("\n\n")[0])
    p.add_argument("dir", type=Path, help="the folder for the wheels (made if absent)")
    p.add_argument("--python-version", default=here, help=f"the node's Python, X.Y (default {here})")
    p.add_argument(
        "--platform", default=DEFAULT_PLATFORM, help=f"its platform tag (default {DEFAULT_PLATFORM})"
    )
    p.add_argument("--extras", default="", help="carousel's extras, comma-separated (test, cuda13, tpu, ...)")
    p.add_argument("--exclude", action="append", default=[], help="NAME[,NAME...]: packages left out")
    p.add_argument("--have", type=Path, help="`pip freeze` of the node: every package it lists is left out")
    p.add_argument("--index-url", help="passed on to pip")
    p.add_argument("--extra-index-url", action="append", default=[], help="passed on to pip")
    return p.parse_args(argv)


def check_python(version: str, requires: str | None) -> None:
    if not re.fullmatch(r"3\.\d+", version):
        raise Failure(f"--python-version {version!r}: give X.Y, as 3.11")
    try:
        from pip._vendor.packaging.specifiers import SpecifierSet
    except ImportError:  # pip's vendored copy moved: leave the check to pip on the node
        return
    if requires and not SpecifierSet(requires).contains(version):
        raise Failure(f"carousel needs Python {requires}, not {version}")


def run(args: argparse.Namespace, tmp: Path) -> str:
    """Resolve, leave out, download, list; the summary line."""
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    check_python(args.python_version, pyproject["project"].get("requires-python"))
    extras = [e.strip() for e in args.extras.split(",") if e.strip()]
    reqs, build_reqs = project_requirements(pyproject, extras)
    have = read_have(args.have) if args.have else {}
    exclude = {normalise(n) for arg in args.exclude for n in arg.split(",") if n.strip()}
    target = ["--python-version", args.python_version, "--implementation", "cp"]
    target += [a for tag in platforms(args.platform) for a in ("--platform", tag)]
    index = (["--index-url", args.index_url] if args.index_url else []) + [
        a for url in args.extra_index_url for a in ("--extra-index-url", url)
    ]
    items = resolve_with_have(reqs, target, index, have, tmp)
    build_items = resolve_target(build_reqs, target, index, [], tmp)
    resolved = {normalise(i["metadata"]["name"]): i for i in items}
    for name in sorted(exclude - resolved.keys()):
        print(f"warning: --exclude {name}: not in the set, nothing left out", file=sys.stderr)
    left_out = sorted((exclude | have.keys()) & resolved.keys())
    kept = {n: i for n, i in resolved.items() if n not in left_out}
    kept |= {normalise(i["metadata"]["name"]): i for i in build_items}
    pins = [f"{n}=={i['metadata']['version']}" for n, i in sorted(kept.items())]
    args.dir.mkdir(parents=True, exist_ok=True)
    wheels = download(list(kept.values()), tmp / "built", args.dir, target, tmp)
    header = (
        f"# carousel wheelhouse: Python {args.python_version}, {args.platform}, extras: {args.extras or '-'}"
    )
    if left_out:
        header += f"\n# left out ({len(left_out)}, the node has them): {', '.join(left_out)}"
    summary = write_lists(args.dir, pins, wheels, header)
    return summary + (f", {len(left_out)} left out (the node has them)" if left_out else "")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        with tempfile.TemporaryDirectory(prefix="wheelhouse-") as tmp:
            summary = run(args, Path(tmp))
    except Failure as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except OSError as e:
        print(f"error: {e.filename or ''}: {e.strerror or e}", file=sys.stderr)
        sys.exit(2)
    print(f"{args.dir}: {summary}; on the node: make install-offline WHEELS={args.dir}")


if __name__ == "__main__":
    main()
