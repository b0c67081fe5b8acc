"""Mutation testing of segzoo's numeric and state-keeping modules (not run in CI).

A small AST-based mutator (no third-party engine: mutmut and cosmic-ray copy or rewrite the
whole tree and run the whole suite, far too slow on this 2-core machine). Each mutant
changes one source span of one module:

- comparison swaps (``<``/``<=``, ``>``/``>=``, ``==``/``!=``, ``is``/``is not``, ``in``/``not in``);
- arithmetic and mask operators (``+``/``-``, ``*``/``/``, ``//`` -> ``/``, ``**`` -> ``*``,
  ``&``/``|``), also in augmented assignments;
- the constants 0, 1, 0.0, 0.5, 1.0 and ``True``/``False``;
- ``and``/``or``; removal of ``not``, unary ``-`` and ``~``;
- removal of ``.t()``, ``.T``, ``.mT``, ``.transpose(...)``, ``.swapaxes(...)``;
- call swaps ``sigmoid``/``tanh``, ``relu`` -> ``sigmoid``, ``softmax``/``log_softmax``,
  ``argmax``/``argmin``, ``max``/``min``, ``amax``/``amin``;
- removal of a statement (replaced by ``pass``): an expression call (``x.masked_fill_(...)``,
  ``model.load_state_dict(...)``, ``warnings.warn(...)``), an assignment to an attribute or
  a subscript, an augmented assignment, or a ``name = f(name, ...)`` update.

Not mutated: docstrings and strings, annotations, ``assert`` and ``raise`` statements,
logging calls, ``__repr__``/``extra_repr`` and lines marked ``# pragma: no mutate``.

How a mutant runs: the package source is taken from a git revision (``git archive``, default
``HEAD``) into a temporary directory, and the ``tests/`` folder of the working tree is laid
over it (so new, uncommitted tests count). The checkout itself is never written. For each
mutant, the mutated file is written into that copy, the test files mapped to the module
(``TEST_MAP``) run with ``pytest -x -q -p no:cacheprovider`` in a child process forked from
a parent that has already imported torch & co. (``--no-fork``: a fresh interpreter with
``PYTHONPATH`` on the copy), and the original file is restored. A mutant is *killed* when
pytest fails, *survived* when it passes, *timeout* when it runs past the per-module limit
(3x the unmutated run + 15 s). The mapped tests must pass on the unmutated copy first
(checked once per module).

Usage::

    OMP_NUM_THREADS=1 python scripts/mutation_test.py --list               # count mutants per module
    OMP_NUM_THREADS=1 python scripts/mutation_test.py --sample 200 --seed 0 \\
        --out /tmp/mutation.md --json /tmp/mutation.json
    python scripts/mutation_test.py --module segzoo/losses/ --out losses.md    # one module or folder
    python scripts/mutation_test.py --sample 200 --seed 0 --rev 1a2b3c4 \\
        --previous /tmp/mutation.json --equivalent benchmarks/results/mutation_equivalent.json \\
        --json /tmp/mutation2.json --out benchmarks/results/mutation.md

Options: ``--sample N --seed S`` draws N mutants stratified over the module groups (an
equal share per group, capped at the group's size, the rest spread over the larger
groups); ``--module PATH`` (repeatable) restricts to files under PATH; ``--rev`` fixes the
source revision so that a later run draws the same mutants; ``--previous FILE.json`` keeps
the mutants already killed in an earlier run and reruns only the others (tests only grow, so
a killed mutant stays killed; only for files whose content is the same as at that run's
revision, other files are rerun in full); ``--equivalent FILE.json``
(``{mutant id: reason}``) marks mutants judged equivalent: they are listed with their reason
and left out of the killed percentage; ``--match REGEX`` keeps only the mutants
whose id (``path:line:col:kind:replacement``) matches; ``--out FILE.md`` writes the report
(stdout otherwise); ``--json FILE`` keeps the raw results.
"""

from __future__ import annotations

import argparse
import ast
import datetime
import difflib
import io
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# Module groups (reporting and stratification) -> files or folders they cover.
GROUPS: dict[str, list[str]] = {
    "metrics": ["segzoo/metrics/"],
    "fusers/scale": [
        "segzoo/fusers/attention_to_scale.py",
        "segzoo/fusers/base.py",
        "segzoo/fusers/hmsa.py",
        "segzoo/fusers/pooling.py",
        "segzoo/fusers/refine_multiscale.py",
    ],
    "fusers/panoptic": ["segzoo/fusers/panoptic/"],
    "postprocess/crf": ["segzoo/crf/"],
    "layers/attention": ["segzoo/layers/attention/"],
    "losses": ["segzoo/losses/"],
    "weights": ["segzoo/weights.py"],
    "engine/trainer": ["segzoo/engine/trainer.py"],
    "engine/checkpoint": ["segzoo/engine/checkpoint.py"],
}

# Source prefix -> the test files run for its mutants (the longest matching prefix wins);
# the fastest, most targeted file first since pytest stops at the first failure (-x).
TEST_MAP: dict[str, list[str]] = {
    "segzoo/metrics/": [
        "tests/test_metrics_semantic_edges.py", "tests/test_metrics_semantic.py", "tests/test_metrics_panoptic.py",
        "tests/test_metrics_coco.py",
    ],
    "segzoo/metrics/semantic.py": ["tests/test_metrics_semantic_edges.py", "tests/test_metrics_semantic.py"],
    "segzoo/metrics/coco_instance.py": ["tests/test_metrics_coco_areas.py", "tests/test_metrics_coco.py"],
    "segzoo/metrics/pq_core.py": ["tests/test_pq_known_answers.py", "tests/test_metrics_panoptic.py"],
    "segzoo/metrics/panoptic.py": ["tests/test_pq_known_answers.py", "tests/test_metrics_panoptic.py"],
    "segzoo/metrics/panoptic_format.py": ["tests/test_metrics_panoptic.py"],
    "segzoo/metrics/coco_panoptic_eval.py": ["tests/test_metrics_panoptic.py"],
    "segzoo/fusers/": ["tests/test_scale_fusers_known_answers.py", "tests/test_multiscale.py"],
    "segzoo/fusers/panoptic/": [
        "tests/test_panoptic_fusers_thresholds.py", "tests/test_upsnet_fusion_edges.py", "tests/test_panoptic_fusers.py"
    ],
    "segzoo/crf/": [
        "tests/test_crf_compat.py", "tests/test_crf_lattice_filter.py", "tests/test_crf_label_skipping.py",
        "tests/test_crf.py", "tests/test_crf_parity.py",
    ],
    "segzoo/crf/panoptic.py": ["tests/test_crf_panoptic_boxes.py", "tests/test_crf_panoptic.py"],
    "segzoo/layers/attention/": ["tests/test_attention_block_defaults.py", "tests/test_attention.py", "tests/test_blocks.py"],
    "segzoo/losses/": ["tests/test_losses_ignore.py", "tests/test_losses.py"],
    "segzoo/losses/uncertainty.py": ["tests/test_losses_ignore.py", "tests/test_losses.py", "tests/test_panoptic_models.py"],
    "segzoo/weights.py": ["tests/test_weights_strict.py", "tests/test_weights.py"],
    "segzoo/engine/trainer.py": ["tests/test_trainer_resume_best.py", "tests/test_engine_trainer.py"],
    "segzoo/engine/checkpoint.py": ["tests/test_trainer_resume_best.py", "tests/test_engine_trainer.py"],
}

PRELOAD = ["numpy", "scipy", "scipy.ndimage", "scipy.optimize", "torch", "torchvision", "timm", "safetensors.torch",
           "pycocotools.mask", "PIL.Image", "pytest", "hypothesis", "tqdm"]

COMPARE_SWAP = {ast.Lt: "<=", ast.LtE: "<", ast.Gt: ">=", ast.GtE: ">", ast.Eq: "!=", ast.NotEq: "==",
                ast.Is: "is not", ast.IsNot: "is", ast.In: "not in", ast.NotIn: "in"}
COMPARE_TOKEN = {ast.Lt: r"<", ast.LtE: r"<=", ast.Gt: r">", ast.GtE: r">=", ast.Eq: r"==", ast.NotEq: r"!=",
                 ast.Is: r"is", ast.IsNot: r"is\s+not", ast.In: r"in", ast.NotIn: r"not\s+in"}
BINOP = {ast.Add: ("+", "-"), ast.Sub: ("-", "+"), ast.Mult: ("*", "/"), ast.Div: ("/", "*"),
         ast.FloorDiv: ("//", "/"), ast.Pow: ("**", "*"), ast.BitAnd: ("&", "|"), ast.BitOr: ("|", "&")}
CALL_SWAP = {"sigmoid": "tanh", "tanh": "sigmoid", "relu": "sigmoid", "softmax": "log_softmax",
             "log_softmax": "softmax", "argmax": "argmin", "argmin": "argmax", "max": "min", "min": "max",
             "amax": "amin", "amin": "amax"}
TRANSPOSE_CALLS = {"t", "transpose", "swapaxes"}
TRANSPOSE_ATTRS = {"T", "mT"}
LOG_NAMES = {"log", "logger", "_log", "_logger", "LOG_", "logging", "print"}
SKIP_FUNCS = {"__repr__", "extra_repr", "__str__"}


@dataclass
class Mutant:
    id: str
    path: str
    line: int
    kind: str
    start: int  # byte offsets in the file
    end: int
    new: str
    group: str = ""
    status: str = "pending"
    seconds: float = 0.0
    diff: str = ""
    note: str = field(default="")


def group_of(path: str) -> str:
    for name, prefixes in GROUPS.items():
        if any(path == p or (p.endswith("/") and path.startswith(p)) for p in prefixes):
            return name
    raise KeyError(path)


def tests_for(path: str, root: Path) -> list[str]:
    prefix = max((p for p in TEST_MAP if path == p or (p.endswith("/") and path.startswith(p))), key=len)
    return [t for t in TEST_MAP[prefix] if (root / t).is_file()]


class Collector(ast.NodeVisitor):
    """Walk one module and record the span replacements."""

    def __init__(self, path: str, src: bytes):
        self.path, self.src = path, src
        self.line_start = [0]
        for line in src.splitlines(keepends=True):
            self.line_start.append(self.line_start[-1] + len(line))
        self.lines = src.decode().splitlines()
        self.out: list[Mutant] = []

    # --- helpers ---------------------------------------------------------------------
    def off(self, line: int, col: int) -> int:
        return self.line_start[line - 1] + col

    def span(self, node: ast.AST) -> tuple[int, int]:
        return self.off(node.lineno, node.col_offset), self.off(node.end_lineno, node.end_col_offset)

    def text(self, a: int, b: int) -> str:
        return self.src[a:b].decode()

    def add(self, node: ast.AST, kind: str, start: int, end: int, new: str) -> None:
        if "pragma: no mutate" in self.lines[node.lineno - 1]:
            return
        mid = f"{self.path}:{node.lineno}:{node.col_offset}:{kind}:{new.strip()[:40]}"
        self.out.append(Mutant(mid, self.path, node.lineno, kind, start, end, new))

    def token_between(self, node, left, right, pattern: str):
        """Offsets of the operator token between two operand nodes (None if not a clean match)."""
        a, b = self.span(left)[1], self.span(right)[0]
        seg = self.text(a, b)
        m = re.fullmatch(r"([\s()\\]*)(" + pattern + r")([\s()\\]*)", seg)
        if not m:
            return None
        return a + len(m.group(1).encode()), a + len(m.group(1).encode()) + len(m.group(2).encode())

    # --- skipped subtrees ------------------------------------------------------------
    def visit_FunctionDef(self, node):
        if node.name in SKIP_FUNCS:
            return
        for d in node.decorator_list:
            self.visit(d)
        for default in node.args.defaults + [d for d in node.args.kw_defaults if d is not None]:
            self.visit(default)
        self.visit_body(node.body)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node):
        self.visit_body(node.body)

    def visit_Module(self, node):
        self.visit_body(node.body)

    def visit_body(self, body):
        for i, stmt in enumerate(body):
            if i == 0 and isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
                continue  # docstring
            self.visit(stmt)

    def visit_Assert(self, node):
        return

    def visit_Raise(self, node):
        return

    def visit_Import(self, node):
        return

    visit_ImportFrom = visit_Import

    def visit_AnnAssign(self, node):
        if node.value is not None:
            self.visit(node.value)
        if isinstance(node.target, (ast.Attribute, ast.Subscript)) and node.value is not None:
            self.remove(node)

    def visit_JoinedStr(self, node):
        return

    def visit_If(self, node):
        if isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            return
        self.generic_visit(node)

    def visit_Assign(self, node):
        if any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            return
        self.generic_visit(node)
        t = node.targets[0]
        if isinstance(t, (ast.Attribute, ast.Subscript)):
            self.remove(node)
        elif isinstance(t, ast.Name) and any(isinstance(n, ast.Name) and n.id == t.id for n in ast.walk(node.value)):
            self.remove(node)

    def visit_AugAssign(self, node):
        self.generic_visit(node)
        if type(node.op) in BINOP:
            tok, new = BINOP[type(node.op)]
            pos = self.token_between(node, node.target, node.value, re.escape(tok + "="))
            if pos:
                self.add(node, "augop", pos[0], pos[1], new + "=")
        self.remove(node)

    def visit_Expr(self, node):
        if not isinstance(node.value, ast.Call):
            return
        if self.is_logging(node.value):
            return
        self.generic_visit(node)
        self.remove(node)

    def remove(self, node):
        a, b = self.span(node)
        self.add(node, "remove-stmt", a, b, "pass")

    def is_logging(self, call: ast.Call) -> bool:
        f = call.func
        while isinstance(f, ast.Attribute):
            f = f.value
        return isinstance(f, ast.Name) and f.id in LOG_NAMES

    # --- mutations -------------------------------------------------------------------
    def visit_Call(self, node):
        if self.is_logging(node):
            return
        f = node.func
        if isinstance(f, ast.Attribute) and f.attr in TRANSPOSE_CALLS:
            a, b = self.span(node)
            self.add(node, "drop-transpose", a, b, self.text(*self.span(f.value)))
        name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else None
        if name in CALL_SWAP:
            b = self.span(f)[1]
            self.add(node, "swap-call", b - len(name), b, CALL_SWAP[name])
        self.generic_visit(node)

    def visit_Attribute(self, node):
        if node.attr in TRANSPOSE_ATTRS:
            a, b = self.span(node)
            self.add(node, "drop-transpose", a, b, self.text(*self.span(node.value)))
        self.generic_visit(node)

    def visit_Compare(self, node):
        prev = node.left
        for op, right in zip(node.ops, node.comparators):
            pos = self.token_between(node, prev, right, COMPARE_TOKEN[type(op)])
            if pos:
                self.add(node, "compare", pos[0], pos[1], COMPARE_SWAP[type(op)])
            prev = right
        self.generic_visit(node)

    def visit_BinOp(self, node):
        strings = any(isinstance(n, (ast.JoinedStr,)) or (isinstance(n, ast.Constant) and isinstance(n.value, str))
                      for n in (node.left, node.right))
        if type(node.op) in BINOP and not strings:
            tok, new = BINOP[type(node.op)]
            pos = self.token_between(node, node.left, node.right, re.escape(tok))
            if pos:
                self.add(node, "binop", pos[0], pos[1], new)
        self.generic_visit(node)

    def visit_BoolOp(self, node):
        a, b = self.span(node)
        text = self.text(a, b)
        old, new = ("and", "or") if isinstance(node.op, ast.And) else ("or", "and")
        # replace the operators between the operands only (not inside them)
        pieces, cursor = [], a
        for left, right in zip(node.values, node.values[1:]):
            la, rb = self.span(left)[1], self.span(right)[0]
            seg = self.text(la, rb)
            pieces.append(self.text(cursor, la) + re.sub(rf"\b{old}\b", new, seg, count=1))
            cursor = rb
        pieces.append(self.text(cursor, b))
        mutated = "".join(pieces)
        if mutated != text:
            self.add(node, "boolop", a, b, mutated)
        self.generic_visit(node)

    def visit_UnaryOp(self, node):
        if isinstance(node.op, (ast.Not, ast.USub, ast.Invert)):
            a, b = self.span(node)
            self.add(node, "drop-unary", a, b, self.text(*self.span(node.operand)))
        self.generic_visit(node)

    def visit_Constant(self, node):
        v = node.value
        new = None
        if isinstance(v, bool):
            new = str(not v)
        elif isinstance(v, int) and v in (0, 1):
            new = str(1 - v)
        elif isinstance(v, float) and v in (0.0, 0.5, 1.0):
            new = {0.0: "1.0", 0.5: "1.0", 1.0: "0.0"}[v]
        if new is not None:
            a, b = self.span(node)
            self.add(node, "constant", a, b, new)


def collect(root: Path, paths: list[str]) -> list[Mutant]:
    mutants = []
    for rel in paths:
        src = (root / rel).read_bytes()
        c = Collector(rel, src)
        c.visit(ast.parse(src))
        seen = set()
        for m in c.out:
            mutated = src[: m.start] + m.new.encode() + src[m.end :]
            if mutated == src or m.id in seen:
                continue
            try:
                compile(mutated, rel, "exec")
            except SyntaxError:
                continue
            seen.add(m.id)
            m.group = group_of(rel)
            m.diff = "".join(
                difflib.unified_diff(
                    src.decode().splitlines(keepends=True), mutated.decode().splitlines(keepends=True),
                    f"a/{rel}", f"b/{rel}", n=1,
                )
            )
            mutants.append(m)
    return mutants


def module_files(root: Path, selected: list[str] | None) -> list[str]:
    files = []
    for prefixes in GROUPS.values():
        for p in prefixes:
            found = sorted((root / p).rglob("*.py")) if p.endswith("/") else [root / p]
            files += [f.relative_to(root).as_posix() for f in found if f.is_file()]
    if selected:
        files = [f for f in files if any(f == s or f.startswith(s.rstrip("/") + "/") for s in selected)]
    return files


def stratified(mutants: list[Mutant], n: int, seed: int) -> list[Mutant]:
    rng = random.Random(seed)
    by_group: dict[str, list[Mutant]] = {}
    for m in mutants:
        by_group.setdefault(m.group, []).append(m)
    quota = {g: 0 for g in by_group}
    left = n
    while left > 0:
        open_groups = [g for g in by_group if quota[g] < len(by_group[g])]
        if not open_groups:
            break
        share = max(1, left // len(open_groups))
        for g in open_groups:
            take = min(share, len(by_group[g]) - quota[g], left)
            quota[g] += take
            left -= take
    chosen = []
    for g, ms in by_group.items():
        chosen += rng.sample(ms, quota[g])
    return sorted(chosen, key=lambda m: (m.path, m.start, m.id))


def make_copy(rev: str) -> Path:
    """``git archive rev`` + the working tree's tests/ in a temporary directory; returns the repo root."""
    tmp = Path(tempfile.mkdtemp(prefix="segzoo-mutation-"))
    root = tmp / "main"
    root.mkdir()
    data = subprocess.run(["git", "archive", "--format=tar", rev], cwd=REPO, check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(root, filter="data")
    shutil.rmtree(root / "tests", ignore_errors=True)
    shutil.copytree(REPO / "tests", root / "tests", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shared = REPO.parent / "shared"
    if shared.is_dir():  # tests/conftest.py finds the sample data at ../../shared
        (tmp / "shared").symlink_to(shared)
    return root


def run_tests(root: Path, tests: list[str], timeout: float, fork: bool, log: Path) -> tuple[str, float]:
    """Run pytest on ``tests`` against the copy at ``root``; ('passed'|'failed'|'timeout', seconds)."""
    args = ["-x", "-q", "-p", "no:cacheprovider", *tests]
    t0 = time.monotonic()
    if fork:
        pid = os.fork()
        if pid == 0:  # child
            try:
                os.setsid()
                fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
                os.dup2(fd, 1)
                os.dup2(fd, 2)
                os.chdir(root)
                sys.path.insert(0, str(root))
                import pytest

                code = int(pytest.main(args))
            except BaseException:  # noqa: BLE001 - a crash of the child is a failed run
                code = 99
            os._exit(code)
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                code = os.waitstatus_to_exitcode(status)
                break
            if time.monotonic() - t0 > timeout:
                os.killpg(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                return "timeout", time.monotonic() - t0
            time.sleep(0.05)
    else:
        with open(log, "w") as out:
            proc = subprocess.Popen([sys.executable, "-m", "pytest", *args], cwd=root, stdout=out, stderr=out,
                                    start_new_session=True)
            try:
                code = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                return "timeout", time.monotonic() - t0
    return ("passed" if code == 0 else "failed"), time.monotonic() - t0


def _file_at(rev: str, path: str) -> bytes | None:
    """The content of ``path`` at git revision ``rev`` (None if absent)."""
    out = subprocess.run(["git", "show", f"{rev}:{path}"], cwd=REPO, capture_output=True)
    return out.stdout if out.returncode == 0 else None


def report(mutants: list[Mutant], total: dict[str, int], equivalent: dict[str, str], meta: dict) -> str:
    lines = ["# Mutation testing", ""]
    lines += [f"- command: `{meta['command']}`", f"- date: {meta['date']}", f"- source revision: `{meta['rev']}`",
              f"- engine: `scripts/mutation_test.py` (AST mutator; see its docstring for the operators)", ""]
    lines += ["| module | mutants | sampled | killed | survived | timeout | equivalent | killed % of non-equivalent |",
              "|---|---|---|---|---|---|---|---|"]
    sums = [0] * 6
    for g in GROUPS:
        ms = [m for m in mutants if m.group == g]
        if not total.get(g):
            continue
        eq = sum(m.id in equivalent for m in ms)
        killed = sum(m.status in ("killed", "timeout") for m in ms)
        surv = sum(m.status == "survived" and m.id not in equivalent for m in ms)
        tout = sum(m.status == "timeout" for m in ms)
        row = [total[g], len(ms), killed, surv, tout, eq]
        sums = [a + b for a, b in zip(sums, row)]
        pct = 100.0 * killed / max(1, len(ms) - eq)
        lines.append(f"| {g} | " + " | ".join(map(str, row)) + f" | {pct:.1f} |")
    pct = 100.0 * sums[2] / max(1, sums[1] - sums[5])
    lines.append("| **all** | " + " | ".join(f"**{s}**" for s in sums) + f" | **{pct:.1f}** |")
    lines += ["", "Killed counts include timeouts (the mutant made the tests hang). Equivalent mutants are "
              "survivors judged to behave exactly like the original (or only differently where no test "
              "can tell); their reasons are below.", ""]
    survivors = [m for m in mutants if m.status == "survived"]
    errors = [m for m in mutants if m.status not in ("killed", "survived", "timeout")]
    if survivors:
        lines += ["## Surviving mutants", ""]
        for m in survivors:
            reason = equivalent.get(m.id)
            lines += [f"### `{m.id}`", "", f"{'Equivalent / accepted: ' + reason if reason else 'NOT equivalent: no test kills it.'}",
                      "", "```diff", m.diff.rstrip(), "```", ""]
    if errors:
        lines += ["## Not run", ""] + [f"- `{m.id}`: {m.status} {m.note}" for m in errors]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sample", type=int, default=0, help="number of mutants to draw (0: all)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--module", action="append", help="only files under this path (repeatable)")
    p.add_argument("--rev", default="HEAD", help="git revision of the mutated source (tests come from the working tree)")
    p.add_argument("--out", type=Path, help="markdown report (stdout if absent)")
    p.add_argument("--json", type=Path, help="raw results")
    p.add_argument("--previous", type=Path, help="results JSON of an earlier run: its killed mutants are not rerun")
    p.add_argument("--equivalent", type=Path, help="JSON {mutant id: reason} of mutants judged equivalent")
    p.add_argument("--match", help="only mutants whose id matches this regular expression (after sampling)")
    p.add_argument("--list", action="store_true", help="only count the mutants")
    p.add_argument("--no-fork", action="store_true", help="run each mutant in a fresh interpreter")
    args = p.parse_args(argv)

    rev = subprocess.run(["git", "rev-parse", args.rev], cwd=REPO, check=True, capture_output=True, text=True).stdout.strip()
    root = make_copy(rev)
    try:
        files = module_files(root, args.module)
        everything = collect(root, files)
        total: dict[str, int] = {}
        for m in everything:
            total[m.group] = total.get(m.group, 0) + 1
        if args.list:
            for g, n in total.items():
                print(f"{g:20s} {n}")
            print(f"{'all':20s} {len(everything)}")
            return 0
        chosen = stratified(everything, args.sample, args.seed) if args.sample else everything
        if args.match:
            chosen = [m for m in chosen if re.search(args.match, m.id)]
        previous = {}
        if args.previous:
            old = json.loads(args.previous.read_text())
            same = {f for f in files if _file_at(old["meta"]["rev"], f) == (root / f).read_bytes()}
            previous = {r["id"]: r for r in old["mutants"] if r["path"] in same}
        equivalent = json.loads(args.equivalent.read_text()) if args.equivalent else {}
        fork = not args.no_fork and hasattr(os, "fork")
        sys.dont_write_bytecode = True
        os.environ["PYTHONDONTWRITEBYTECODE"] = "1"
        os.environ["PYTHONPATH"] = str(root) + os.pathsep + os.environ.get("PYTHONPATH", "")
        os.environ.setdefault("OMP_NUM_THREADS", "1")
        if fork:
            for name in PRELOAD:
                try:
                    __import__(name)
                except ImportError:
                    pass
        log = root.parent / "pytest.log"
        baseline: dict[tuple[str, ...], float] = {}
        for i, m in enumerate(chosen):
            old = previous.get(m.id)
            if old and old["status"] in ("killed", "timeout"):
                m.status, m.seconds, m.note = old["status"], old["seconds"], "from --previous"
                continue
            tests = tests_for(m.path, root)
            key = tuple(tests)
            if key not in baseline:
                status, secs = run_tests(root, tests, 600, fork, log)
                if status != "passed":
                    raise SystemExit(f"mapped tests fail without mutation: {tests}\n{log.read_text()[-3000:]}")
                baseline[key] = 3 * secs + 15
                print(f"baseline {' '.join(tests)}: {secs:.1f}s", file=sys.stderr)
            target = root / m.path
            original = target.read_bytes()
            try:
                target.write_bytes(original[: m.start] + m.new.encode() + original[m.end :])
                status, m.seconds = run_tests(root, tests, baseline[key], fork, log)
            finally:
                target.write_bytes(original)
            m.status = {"passed": "survived", "failed": "killed", "timeout": "timeout"}[status]
            print(f"[{i + 1}/{len(chosen)}] {m.status:8s} {m.seconds:5.1f}s {m.id}", file=sys.stderr, flush=True)
        meta = {"command": " ".join(["python", "scripts/mutation_test.py", *(argv if argv is not None else sys.argv[1:])]),
                "date": datetime.date.today().isoformat(), "rev": rev}
        text = report(chosen, {g: n for g, n in total.items()}, equivalent, meta)
        if args.json:
            args.json.write_text(json.dumps({"meta": meta, "total": total, "mutants": [asdict(m) for m in chosen]}, indent=1))
        if args.out:
            args.out.write_text(text)
        else:
            print(text)
    finally:
        shutil.rmtree(root.parent, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
