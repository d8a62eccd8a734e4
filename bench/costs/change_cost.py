"""What one change of the model cost each port (docs/DESIGN.md §7, maintenance): lines added and removed
in its own files (registry `dirs` less `generated`, counted apart) by a git range's commits, and whether it
needed a rebuild: built ahead of time (`clean_build` or `build_logs`) and a file it compiles changed, in its
dirs or a part it `borrows` (the lender's files named after the part, and the lender's generated tables).
The range: `--change OLD..NEW`; by default issue 11's change of record.
Leaves out: review effort; the tests and the harness are one shared row."""
from __future__ import annotations

import subprocess
from pathlib import Path

from .. import registry

ROOT = Path(__file__).resolve().parents[2]
# the change of record: the commit before issue 11's first and its last (branch issue11)
CHANGE_OF_RECORD = ("5d3a016", "1dece7c", "issue 11: one model spec honoured by every port")
COMPILED = (".cpp", ".cc", ".c", ".h", ".hpp", ".pyx", ".pxd", "CMakeLists.txt", ".cmake")
SHARED_ROW = "tests and bench (shared)"


class ChangeError(RuntimeError):
    """The range cannot be read here (not a git checkout, a commit missing from a shallow clone), or
    holds no commit (reversed, or one commit twice): one line."""


def parse_range(text: str | None) -> tuple[str, str, str]:
    """'OLD..NEW' (or None: the change of record) -> (old, new, label)."""
    if not text:
        return CHANGE_OF_RECORD
    old, sep, new = text.partition("..")
    if not sep or not old or not new:
        raise ChangeError(f"--change wants OLD..NEW (two commits), got {text!r}")
    return old, new, "the change asked for"


def _git(*args: str, root: Path = ROOT) -> str:
    try:
        out = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise ChangeError(f"git not usable here: {e}") from None
    if out.returncode != 0:
        raise ChangeError(f"git {' '.join(args[:2])}: {out.stderr.strip().splitlines()[-1] if out.stderr.strip() else 'failed'}")
    return out.stdout


def numstat(old: str, new: str, root: Path = ROOT) -> dict[str, tuple[int, int]]:
    """{path: (added, removed)} between two commits (binary files count 0)."""
    for c in (old, new):
        try:
            _git("rev-parse", "--verify", "--quiet", f"{c}^{{commit}}", root=root)
        except ChangeError:
            raise ChangeError(f"commit {c!r} is not in this checkout (a shallow clone, or a typo)") from None
    files = {}
    for line in _git("diff", "--numstat", "--no-renames", old, new, root=root).splitlines():
        a, r, path = line.split("\t", 2)
        files[path] = (int(a) if a.isdigit() else 0, int(r) if r.isdigit() else 0)
    return files


def under(path: str, dirs) -> bool:
    """path is one of dirs or inside one."""
    return any(path == d or path.startswith(d.rstrip("/") + "/") for d in dirs)


def _lines(files: dict) -> dict:
    return {"added": sum(a for a, _ in files.values()), "removed": sum(r for _, r in files.values()),
            "files": len(files)}


def change_cost(text: str | None = None, root: Path = ROOT) -> dict:
    """{"old", "new", "label", "commits", "rows": {impl: {added, removed, files, generated, rebuild, why}}}."""
    old, new, label = parse_range(text)
    files = numstat(old, new, root)
    commits = len(_git("rev-list", f"{old}..{new}", root=root).split())
    if commits == 0:   # NEW is OLD or one of its ancestors: no change in this direction (git diff would run backwards)
        same = _git("rev-parse", f"{old}^{{commit}}", root=root) == _git("rev-parse", f"{new}^{{commit}}", root=root)
        raise ChangeError(f"the range {old}..{new} has no commits: " + (
            "both name the same commit" if same else
            f"{new} is an ancestor of {old}, so the range is reversed (did you mean {new}..{old}?)"))
    rows, owned = {}, set()
    for name in registry.ports(with_reference=True):
        e = registry.BY_NAME[name]
        mine = {p: n for p, n in files.items() if under(p, e.dirs)}
        owned.update(mine)
        gen = {p: n for p, n in mine.items() if p in e.generated}
        own = {p: n for p, n in mine.items() if p not in e.generated}
        built = bool(e.clean_build or e.build_logs)
        lent = [p for part, b in e.borrows if b in registry.BY_NAME for p in files
                if under(p, registry.BY_NAME[b].dirs) and p.endswith(COMPILED)
                and (Path(p).name.startswith(part) or p in registry.BY_NAME[b].generated)]
        why = sorted({p for p in own if p.endswith(COMPILED)} | set(lent) | set(gen))
        rows[name] = {**_lines(own), "generated": sum(a + r for a, r in gen.values()),
                      "rebuild": bool(built and why), "why": why[:6] if built else [],
                      "how": "built ahead of time" if built else "no build step (Python, or a JIT at first call)"}
    rest = {p: n for p, n in files.items() if p not in owned and under(p, ("tests", "bench"))}
    rows[SHARED_ROW] = {**_lines(rest), "generated": 0, "rebuild": False, "why": [], "how": "shared"}
    return {"old": old, "new": new, "label": label, "commits": commits, "rows": rows}
