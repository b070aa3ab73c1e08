"""The README's code blocks as tests: extract them, turn the outputs their comments show into
assertions, and run each block as a script of its own, as a reader would.

* A fenced block whose info string names a file (```` ```json file=data.json ````) is written into
  the block's working directory before the Python blocks run; it is not run itself.
* Every other ``python`` block is a script. Two kinds of comment are outputs, and are asserted:
  a trailing comment on an expression statement that is a Python literal (``await m(1)  # 2``)
  becomes ``assert (await m(1)) == 2``, and ``# -> str`` becomes an ``isinstance`` check; comment
  lines right below a ``print(...)`` line are lines the script must print, in that order.
  Any other comment is prose.
* :func:`run_block` runs a script with the interpreter running the tests, the repository first on
  ``PYTHONPATH``, in a given directory and environment; it fails on a non-zero exit, a traceback,
  an unclosed-resource warning, or a missing output line.
"""

from __future__ import annotations

import ast
import builtins
import io
import os
import re
import subprocess
import sys
import tokenize
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"

_FENCE = re.compile(r"^```(?P<info>[^`]*)$")
_TYPE = re.compile(r"^->\s*(?P<name>[A-Za-z_]\w*)\b")


@dataclass
class Block:
    lang: str
    code: str
    line: int  # of the opening fence, 1-based
    heading: str
    file: str | None = None  # the file this block's content is, if the info string names one
    expected: list[str] = field(default_factory=list)  # output lines the script must print

    @property
    def name(self) -> str:
        slug = re.sub(r"[^a-z0-9]+", "-", self.heading.lower()).strip("-")
        return f"L{self.line}-{slug}"


def blocks(text: str | None = None) -> list[Block]:
    """Every fenced block of the README, with the heading it sits under."""
    lines = (README.read_text() if text is None else text).splitlines()
    out: list[Block] = []
    heading = ""
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("#") and not line.startswith("#!"):
            heading = line.lstrip("#").strip()
        m = _FENCE.match(line)
        if m and m.group("info").strip():
            info = m.group("info").split()
            end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
            file = next((w.split("=", 1)[1] for w in info[1:] if w.startswith("file=")), None)
            out.append(Block(info[0], "\n".join(lines[i + 1:end]) + "\n", i + 1, heading, file))
            i = end
        i += 1
    return out


def python_scripts(all_blocks: list[Block] | None = None) -> list[Block]:
    return [b for b in (all_blocks or blocks()) if b.lang == "python" and b.file is None]


def files(all_blocks: list[Block] | None = None) -> list[Block]:
    return [b for b in (all_blocks or blocks()) if b.file is not None]


def _comments(code: str) -> dict[int, str]:
    """Line number → the comment's text (without ``#``), for every comment token."""
    found: dict[int, str] = {}
    for tok in tokenize.generate_tokens(io.StringIO(code).readline):
        if tok.type == tokenize.COMMENT:
            found[tok.start[0]] = tok.string[1:].strip()
    return found


def instrument(block: Block) -> str:
    """The block's script with its output comments turned into assertions; fills ``expected``."""
    code = block.code
    lines = code.splitlines()
    comments = _comments(code)
    tree = ast.parse(code)
    replace: dict[int, str] = {}
    for node in ast.walk(tree):
        if not isinstance(node, ast.Expr) or node.lineno != node.end_lineno:
            continue
        comment = comments.get(node.lineno)
        if comment is None:
            continue
        src = ast.get_source_segment(code, node.value)
        indent = lines[node.lineno - 1][: node.col_offset]
        typed = _TYPE.match(comment)
        if typed and isinstance(getattr(builtins, typed["name"], None), type):
            replace[node.lineno] = (f"{indent}_v = {src}\n{indent}assert isinstance(_v, {typed['name']}), "
                                    f"f'README line {block.line + node.lineno}: {{_v!r}}'")
            continue
        try:
            ast.literal_eval(comment)
        except (ValueError, SyntaxError):
            continue  # prose
        replace[node.lineno] = (f"{indent}_v = {src}\n{indent}assert _v == {comment}, "
                                f"f'README line {block.line + node.lineno}: {{_v!r}} != ' + {comment!r}")
    block.expected = []
    for i, line in enumerate(lines):
        if "print(" in line and not line.lstrip().startswith("#"):
            j = i + 1
            while j < len(lines) and lines[j].lstrip().startswith("# "):
                block.expected.append(lines[j].lstrip()[2:].rstrip())
                j += 1
    return "\n".join(replace.get(n, line) for n, line in enumerate(lines, start=1)) + "\n"


def run_block(block: Block, cwd: Path, env: dict[str, str], *, timeout: float = 300,
              argv_prefix: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    """Write the README's files and this block's script into ``cwd`` and run it; assert it ran
    clean and printed what its comments show."""
    for f in files():
        assert f.file is not None
        target = cwd / f.file
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(f.code)
    script = cwd / f"{block.name}.py"
    script.write_text(instrument(block))
    full_env = {**os.environ, **env, "PYTHONPATH": os.pathsep.join([str(REPO), str(cwd)])}
    argv = [*(argv_prefix or []), sys.executable, str(script)]
    proc = subprocess.run(argv, cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout,
                          check=False)
    check(block, proc.returncode, proc.stdout, proc.stderr)
    return proc


def check(block: Block, returncode: int, stdout: str, stderr: str) -> None:
    where = f"README block at line {block.line} ({block.heading})"
    assert returncode == 0, f"{where} failed:\n{stderr[-4000:]}"
    assert "Traceback" not in stderr, f"{where} printed a traceback:\n{stderr[-4000:]}"
    for noise in ("Unclosed", "ResourceWarning", "Task was destroyed"):
        assert noise not in stderr, f"{where} left something open ({noise}):\n{stderr[-4000:]}"
    printed = [ln.rstrip() for ln in stdout.splitlines()]
    pos = 0
    for want in block.expected:
        while pos < len(printed) and printed[pos] != want:
            pos += 1
        assert pos < len(printed), f"{where}: expected the line {want!r} (in order) in:\n{stdout[-4000:]}"
        pos += 1
