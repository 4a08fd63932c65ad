"""Build the student hand-out: copy the repository and empty every solution block.

    python tools/make_handout.py OUT_DIR [--force] [--check [--isolate]]

Files copied: those git would commit (tracked, plus untracked files .gitignore does not ignore), or
every file under the repository where git is absent; minus ALWAYS_EXCLUDED and the manifest
``tools/handout_exclude.txt`` (its header explains the syntax).

Blocks emptied: in every copied ``.py`` file, the lines between a START TODO marker line and its END
TODO marker line (own-line comments spelled exactly MARKER_START and MARKER_END) are replaced by a
placeholder; the marker lines and the instruction comments above them stay. The placeholder is

- inside a function, ``__init__`` included: ``raise NotImplementedError("TODO in lib/x.py:12: <first
  words of the instruction>")``, so the first use fails at the block with the file, line and task.
  The course hands out its exercises this way. Raising in ``__init__`` is deliberate: an object built
  without its layers would fail later and further away (e.g. Adam's "empty parameter list").
- at module or class level, if the block only holds ``def`` / ``class`` statements: one stub per name
  that raises the same error when called, so the module still imports and the rest of it works;
- any other module- or class-level block: that raise, at import time.

Markers are read with ``tokenize`` (so marker text inside strings is ignored) and located with ``ast``:
nested, unmatched, misspelled, misindented markers and blocks that cut a statement in two are reported
as ``file:line: problem`` and nothing is written.

``--check`` then proves the hand-out:

1. every ``.py`` file compiles, also under the Python 3.8 grammar (``ast.parse(feature_version=(3, 8))``);
2. ``pycodestyle --max-line-length 120 .`` passes inside it;
3. tests: a test file (``test_*.py`` / ``*_test.py`` shipped in the hand-out) belongs to a module with
   blocks when it imports that module (``import a.b``, ``from a.b import c``, ``from a import b``,
   relative imports too) or names its file in a string literal (scripts run through subprocess).
   Those test files run once in the solution and once in the hand-out (``python -m pytest``); a module
   passes when its tests all pass or skip in the solution, at least one passes, and at least one fails
   in the hand-out. ``--isolate`` adds one run per module with only that module emptied, which proves
   its own tests catch its own blocks rather than failing because of another module's placeholder.
   Slow tests run too; ``--pytest-args "-m 'not slow'"`` leaves them out. Tests that find their data
   relative to the repository may skip in a hand-out written elsewhere: they count as not failing.
"""
import argparse
import ast
import fnmatch
import io
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import tokenize
from collections import Counter, namedtuple

from tqdm import tqdm

if __package__ in (None, ""):
    # Run as a script, so sys.path starts at tools/: make the repository's lib/ importable.
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from lib.cli import UserError, run_main

MARKER_START = "# START TODO ####"
MARKER_END = "# END TODO ####"
MAX_LINE = 120
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MANIFEST = os.path.join("tools", "handout_exclude.txt")
# Never shipped, whatever the manifest says: version control, caches, environments, editor files.
ALWAYS_EXCLUDED = (".git/", ".hg/", ".svn/", "__pycache__/", "*.py[cod]", ".pytest_cache/", ".mypy_cache/",
                   ".ipynb_checkpoints/", ".venv/", "venv/", "env/", "*.egg-info/", ".idea/", ".vscode/",
                   ".DS_Store")
# A comment that looks like a marker but is not spelled exactly like one (checked after the '#'s).
ODD_MARKER = re.compile(r"(start|end)[\s_-]*todo\b|todo[\s_-]*(start|end)[\s#]*$", re.IGNORECASE)
TEST_FILE = re.compile(r"^(test_.*|.*_test)\.py$")

Problem = namedtuple("Problem", "path line message")
Block = namedtuple("Block", "start end indent scope statements")


class MarkerError(Exception):
    """Problems with the markers of one file; ``problems`` is a list of :class:`Problem`."""

    def __init__(self, problems):
        super().__init__("{} marker problem(s)".format(len(problems)))
        self.problems = problems


def format_problem(problem):
    return "{}:{}: {}".format(problem.path, problem.line, problem.message)


# ---------------------------------------------------------------------------------------------------
# Which files ship
# ---------------------------------------------------------------------------------------------------

def read_manifest(path):
    """Glob patterns of a manifest file (see tools/handout_exclude.txt), comments and blanks dropped."""
    patterns = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("!"):
                raise UserError("{}:{}: '!' negation is not supported".format(path, number))
            patterns.append(line)
    return patterns


def is_excluded(relpath, patterns, is_dir=False):
    """True if the posix path ``relpath`` (a file, or a folder if ``is_dir``) matches a pattern."""
    parts = relpath.split("/")
    for pattern in patterns:
        dir_only = pattern.endswith("/")
        glob = pattern.strip("/")
        anchored = "/" in glob or pattern.startswith("/")
        # A directory pattern may only name the folders on the path, never the file itself.
        named = len(parts) if (is_dir or not dir_only) else len(parts) - 1
        for i in range(named):
            candidate = "/".join(parts[:i + 1]) if anchored else parts[i]
            if fnmatch.fnmatchcase(candidate, glob):
                return True
    return False


def git_files(root):
    """Files git would commit under ``root`` (tracked + untracked not ignored), or None without git."""
    try:
        probe = subprocess.run(["git", "-C", root, "rev-parse", "--is-inside-work-tree"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, universal_newlines=True)
    except OSError:
        return None
    if probe.returncode != 0 or probe.stdout.strip() != "true":
        return None
    listing = subprocess.run(["git", "-C", root, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                             stdout=subprocess.PIPE, check=True)
    names = listing.stdout.decode("utf-8", "surrogateescape").split("\0")
    return sorted(name for name in names if name)


def walked_files(root, patterns):
    """Every file under ``root`` as a posix relative path, pruning excluded folders on the way."""
    found = []
    for folder, dirs, files in os.walk(root):
        rel_folder = os.path.relpath(folder, root).replace(os.sep, "/")
        prefix = "" if rel_folder == "." else rel_folder + "/"
        dirs[:] = sorted(d for d in dirs if not is_excluded(prefix + d, patterns, is_dir=True))
        found.extend(prefix + name for name in sorted(files))
    return found


def list_shipped_files(source, out_dir, patterns):
    """Relative posix paths of the files to copy, the hand-out folder itself left out."""
    names = git_files(source)
    if names is None:
        names = walked_files(source, patterns)
    out_rel = os.path.relpath(out_dir, source).replace(os.sep, "/")
    inside_out = not out_rel.startswith("..")
    shipped = []
    for name in names:
        path = os.path.join(source, name)
        if not (os.path.isfile(path) or os.path.islink(path)) or is_excluded(name, patterns):
            continue  # deleted but still tracked, a submodule, or excluded
        if inside_out and (name + "/").startswith(out_rel + "/"):
            continue
        shipped.append(name)
    return shipped


# ---------------------------------------------------------------------------------------------------
# Finding the blocks
# ---------------------------------------------------------------------------------------------------

def find_markers(relpath, text, lines):
    """Marker comments of a source as ``[(line, "start" | "end", indent)]``; raises MarkerError.

    Comments come from ``tokenize``, so marker text inside strings and docstrings is not a marker.
    """
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError) as err:
        line = getattr(err, "lineno", None) or (err.args[1][0] if len(err.args) > 1 else 1)
        raise MarkerError([Problem(relpath, line, "cannot tokenize the file: {}".format(err.args[0]))])
    markers, problems = [], []
    for token in tokens:
        if token.type != tokenize.COMMENT:
            continue
        number, column = token.start
        comment = token.string.rstrip()
        kind = {MARKER_START: "start", MARKER_END: "end"}.get(comment)
        if kind is None:
            if ODD_MARKER.match(comment.lstrip("#").strip()):
                problems.append(Problem(relpath, number, "odd marker spelling {!r}: write {!r} or {!r}".format(
                    comment, MARKER_START, MARKER_END)))
            continue
        indent = lines[number - 1][:column]
        if indent.strip():
            problems.append(Problem(relpath, number, "marker {!r} must be on a line of its own".format(comment)))
            continue
        markers.append((number, kind, indent))
    if problems:
        raise MarkerError(problems)
    return markers


def pair_markers(relpath, markers):
    """Pair START and END markers into ``[(start_line, end_line, indent)]``; raises MarkerError."""
    pairs, problems, opened = [], [], []
    for number, kind, indent in markers:
        if kind == "start":
            if opened:
                problems.append(Problem(relpath, number, "nested START TODO: the block opened at line {} is "
                                        "still open".format(opened[-1][0])))
            opened.append((number, indent))
        elif not opened:
            problems.append(Problem(relpath, number, "END TODO without a START TODO before it"))
        else:
            start, start_indent = opened.pop()
            if indent != start_indent:
                problems.append(Problem(relpath, number, "END TODO indented differently from its START TODO "
                                        "at line {}".format(start)))
            pairs.append((start, number, start_indent))
    problems.extend(Problem(relpath, start, "START TODO without an END TODO") for start, _ in opened)
    if problems:
        raise MarkerError(sorted(problems, key=lambda p: p.line))
    return sorted(pairs)


def statement_lists(node):
    """The statement bodies directly under ``node``: body, orelse, finalbody, handler and case bodies."""
    for _, value in ast.iter_fields(node):
        if not isinstance(value, list) or not value:
            continue
        if isinstance(value[0], ast.stmt):
            yield value
            continue
        for item in value:
            body = getattr(item, "body", None)
            if isinstance(body, list) and body and isinstance(body[0], ast.stmt):
                yield body


def first_line(statement):
    """First line of a statement, its decorators included."""
    return min([statement.lineno] + [d.lineno for d in getattr(statement, "decorator_list", [])])


def locate_block(relpath, tree, start, end):
    """Return ``(scope, statements)`` of the block between marker lines ``start`` and ``end``.

    ``scope`` is "function", "class" or "module" (the innermost def or class around the block);
    ``statements`` are the whole statements between the markers, all from one statement body.
    Raises MarkerError when the block cuts a statement in two or spans several bodies.
    """
    node, scope = tree, "module"
    while True:
        inside, bodies, container = [], set(), None
        for index, body in enumerate(statement_lists(node)):
            for statement in body:
                first, last = first_line(statement), statement.end_lineno
                if last < start or first > end:
                    continue
                if start < first and last < end:
                    inside.append(statement)
                    bodies.add(index)
                elif first < start and statement.lineno < start and start < last:
                    # Starts above the block and reaches into it: a compound statement holding it
                    # (a function's last statement may end before END, since comments are not code).
                    container = statement
                else:
                    raise MarkerError([Problem(relpath, start, "the block cuts the statement at line {} in "
                                               "two".format(statement.lineno))])
        if container is None:
            break
        if inside:
            raise MarkerError([Problem(relpath, start, "the block holds statements of different bodies (lines {} "
                                       "and {})".format(container.lineno, inside[0].lineno))])
        if not any(True for _ in statement_lists(container)):
            raise MarkerError([Problem(relpath, start, "the block sits inside the statement at line {}; put the "
                                       "markers between whole statements".format(container.lineno))])
        node = container
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            scope = "function"
        elif isinstance(node, ast.ClassDef):
            scope = "class"
    if len(bodies) > 1:
        raise MarkerError([Problem(relpath, start, "the block spans several statement bodies (e.g. across "
                                   "'else:'); keep it inside one")])
    return scope, inside


def find_blocks(relpath, text, lines):
    """Blocks of a Python source as :class:`Block` tuples; raises MarkerError."""
    pairs = pair_markers(relpath, find_markers(relpath, text, lines))
    if not pairs:
        return []
    try:
        tree = ast.parse(text)
    except SyntaxError as err:
        raise MarkerError([Problem(relpath, err.lineno or 1, "the solution does not parse: {}".format(err.msg))])
    blocks, problems = [], []
    for start, end, indent in pairs:
        try:
            scope, statements = locate_block(relpath, tree, start, end)
        except MarkerError as err:
            problems.extend(err.problems)
            continue
        code = [line for line in lines[start:end - 1] if line.strip() and not line.strip().startswith("#")]
        if code and not statements:
            problems.append(Problem(relpath, start, "the block sits inside a statement; put the markers "
                                    "between whole statements"))
            continue
        if statements and statements[0].col_offset != len(indent):
            problems.append(Problem(relpath, start, "START TODO is indented by {} but the code of its block by {}"
                                    .format(len(indent), statements[0].col_offset)))
            continue
        blocks.append(Block(start, end, indent, scope, statements))
    if problems:
        raise MarkerError(problems)
    return blocks


# ---------------------------------------------------------------------------------------------------
# Placeholders
# ---------------------------------------------------------------------------------------------------

def instruction_above(lines, block, floor):
    """The comment lines right above a START marker at its indentation, joined, 'TODO:' dropped."""
    texts = []
    index = block.start - 2
    while index >= floor:
        line = lines[index]
        stripped = line.strip()
        if not line.startswith(block.indent + "#") or stripped in (MARKER_START, MARKER_END):
            break
        texts.insert(0, stripped.lstrip("#").strip())
        index -= 1
    text = " ".join(t for t in texts if t)
    return re.sub(r"^TODO\b\s*:?\s*", "", text, flags=re.IGNORECASE)


def string_literal(text):
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def raise_lines(indent, location, instruction):
    """``raise NotImplementedError("<location>: <instruction>")`` within MAX_LINE columns.

    The instruction is cut at a word with " ..." when too long: it stands in full just above the block.
    """
    head = indent + "raise NotImplementedError("
    words = instruction.split()
    for keep in range(len(words), -1, -1):
        text = location
        if keep:
            text += ": " + " ".join(words[:keep]) + (" ..." if keep < len(words) else "")
        line = head + string_literal(text) + ")"
        if len(line) <= MAX_LINE:
            return [line]
    return [head, indent + "    " + string_literal(location) + ")"]


def source_of(text, node):
    segment = ast.get_source_segment(text, node) or ""
    return " ".join(segment.split())


def stub_lines(text, statement, indent, location, instruction):
    """A def or class with the statement's name that raises NotImplementedError when called."""
    lines = [indent + "@" + source_of(text, d) for d in statement.decorator_list]
    if isinstance(statement, ast.ClassDef):
        bases = [source_of(text, b) for b in statement.bases]
        bases += ["{}={}".format(k.arg, source_of(text, k.value)) if k.arg else "**" + source_of(text, k.value)
                  for k in statement.keywords]
        lines.append("{}class {}{}:".format(indent, statement.name, "({})".format(", ".join(bases)) if bases else ""))
        lines.append(indent + "    def __init__(self, *args, **kwargs):")
        return lines + raise_lines(indent + "        ", location, instruction)
    keyword = "async def" if isinstance(statement, ast.AsyncFunctionDef) else "def"
    lines.append("{}{} {}(*args, **kwargs):".format(indent, keyword, statement.name))
    return lines + raise_lines(indent + "    ", location, instruction)


def placeholder_lines(text, block, location, instruction):
    """Lines (no line ends) that replace the body of ``block``; see the module docstring."""
    if not block.statements:
        return []
    definitions = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    if block.scope == "function" or not all(isinstance(s, definitions) for s in block.statements):
        return raise_lines(block.indent, location, instruction)
    lines = []
    for statement in block.statements:
        if lines:
            lines.extend([""] * (2 if block.scope == "module" else 1))
        lines.extend(stub_lines(text, statement, block.indent, location, instruction))
    return lines


def line_end(line):
    return line[len(line.rstrip("\r\n")):] or "\n"


def empty_blocks(relpath, text):
    """Return ``(handout_text, number_of_blocks, warnings)`` for one Python source.

    Raises MarkerError with every problem of the file; the result is compiled before it is returned.
    """
    if "todo" not in text.lower():
        return text, 0, []
    lines = io.StringIO(text).readlines()  # split like tokenize does: only at "\n"
    blocks = find_blocks(relpath, text, lines)
    out, warnings, cursor = [], [], 0
    for block in blocks:
        out.extend(lines[cursor:block.start])
        location = "TODO in {}:{}".format(relpath, len(out))
        instruction = instruction_above(lines, block, cursor)
        if not instruction:
            warnings.append(Problem(relpath, block.start, "no instruction comment above START TODO"))
        if not block.statements:
            warnings.append(Problem(relpath, block.start, "block holds no statement; left empty"))
        eol = line_end(lines[block.start - 1])
        out.extend(line + eol if line else eol for line in placeholder_lines(text, block, location, instruction))
        out.append(lines[block.end - 1])
        cursor = block.end
    out.extend(lines[cursor:])
    handout = "".join(out)
    try:
        compile(handout, relpath, "exec", dont_inherit=True)
    except SyntaxError as err:
        raise MarkerError([Problem(relpath, err.lineno or 1, "the emptied file does not compile ({}, line numbers "
                                   "of the hand-out)".format(err.msg))])
    return handout, len(blocks), warnings


# ---------------------------------------------------------------------------------------------------
# Building the hand-out
# ---------------------------------------------------------------------------------------------------

Plan = namedtuple("Plan", "files texts blocks warnings")  # texts / blocks: {relpath: ...} of emptied modules


def plan_handout(source, out_dir, patterns):
    """Decide every file of the hand-out and empty the blocks in memory; raises UserError on problems."""
    files = list_shipped_files(source, out_dir, patterns)
    texts, blocks, warnings, problems = {}, {}, [], []
    for relpath in files:
        path = os.path.join(source, relpath)
        if os.path.islink(path):
            continue
        if not relpath.endswith(".py"):
            warnings.extend(Problem(relpath, number, "marker line in a file that is not Python: copied unchanged")
                            for number in marker_lines_in(path)[:1])
            continue
        try:
            with open(path, encoding="utf-8", newline="") as handle:
                text = handle.read()
        except UnicodeDecodeError as err:
            problems.append(Problem(relpath, 1, "not UTF-8, cannot look for blocks: {}".format(err)))
            continue
        try:
            handout, found, file_warnings = empty_blocks(relpath, text)
        except MarkerError as err:
            problems.extend(err.problems)
            continue
        warnings.extend(file_warnings)
        if found:
            texts[relpath], blocks[relpath] = handout, found
    if problems:
        for problem in problems:
            print(format_problem(problem), file=sys.stderr)
        raise UserError("{} marker problem(s) listed above; nothing was written".format(len(problems)))
    return Plan(files, texts, blocks, warnings)


def marker_lines_in(path):
    """Line numbers of marker lines in a text file (empty for binary or large files)."""
    if os.path.getsize(path) > 2 ** 20:
        return []
    try:
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except (UnicodeDecodeError, OSError):
        return []
    return [i for i, line in enumerate(lines, 1) if line.strip() in (MARKER_START, MARKER_END)]


def write_tree(source, dest, files, texts):
    """Copy ``files`` from ``source`` to ``dest``, writing ``texts[relpath]`` instead where given."""
    for relpath in files:
        src, dst = os.path.join(source, relpath), os.path.join(dest, relpath)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        if relpath in texts:
            with open(dst, "w", encoding="utf-8", newline="") as handle:
                handle.write(texts[relpath])
            shutil.copymode(src, dst)
        else:
            shutil.copy2(src, dst, follow_symlinks=False)


def inside(path, root):
    """True if ``path`` is ``root`` or lies below it (both absolute)."""
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def empty_dir(path):
    """Delete everything in ``path`` but a ``.git`` folder, so a hand-out clone can be refreshed in place."""
    for name in os.listdir(path):
        if name == ".git":
            continue
        child = os.path.join(path, name)
        if os.path.isdir(child) and not os.path.islink(child):
            shutil.rmtree(child)
        else:
            os.unlink(child)


def prepare_out_dir(source, out_dir, force):
    """Refuse dangerous or non-empty targets; with ``force`` empty the folder first."""
    if inside(source, out_dir) or out_dir == os.path.realpath(os.path.expanduser("~")):
        raise UserError("OUT_DIR {} is the repository, a folder above it or your home; choose another".format(
            out_dir))
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise UserError("OUT_DIR {} exists and is not a folder".format(out_dir))
    if os.path.isdir(out_dir) and set(os.listdir(out_dir)) - {".git"}:
        if not force:
            raise UserError("OUT_DIR {} is not empty; pass --force to replace its contents".format(out_dir))
        empty_dir(out_dir)
    os.makedirs(out_dir, exist_ok=True)


def build(source, out_dir, force, manifest):
    """Write the hand-out of ``source`` into ``out_dir`` and return its :class:`Plan`."""
    patterns = list(ALWAYS_EXCLUDED) + (read_manifest(manifest) if manifest else [])
    plan = plan_handout(source, out_dir, patterns)
    prepare_out_dir(source, out_dir, force)
    write_tree(source, out_dir, plan.files, plan.texts)
    for warning in plan.warnings:
        print("warning: " + format_problem(warning), file=sys.stderr)
    print("wrote {} files to {}: {} solution blocks emptied in {} modules".format(
        len(plan.files), out_dir, sum(plan.blocks.values()), len(plan.blocks)))
    return plan


# ---------------------------------------------------------------------------------------------------
# --check
# ---------------------------------------------------------------------------------------------------

PLUGIN_SOURCE = '''"""pytest plugin of make_handout --check: one JSON line per test phase and per failed collection."""
import json
import os


def _record(nodeid, outcome):
    with open(os.environ["HANDOUT_OUTCOMES"], "a") as handle:
        handle.write(json.dumps([nodeid, outcome]) + "\\n")


def pytest_runtest_logreport(report):
    _record(report.nodeid, "skipped" if hasattr(report, "wasxfail") else report.outcome)


def pytest_collectreport(report):
    if report.failed:
        _record(report.nodeid, "failed")
'''
RANK = {"passed": 0, "skipped": 1, "failed": 2}


def python_files(root):
    return [f for f in walked_files(root, ALWAYS_EXCLUDED) if f.endswith(".py")]


def check_compiles(root):
    """Problems of ``.py`` files that do not compile here or do not parse with the Python 3.8 grammar."""
    problems = []
    for relpath in python_files(root):
        with open(os.path.join(root, relpath), "rb") as handle:
            source = handle.read()
        try:
            compile(source, relpath, "exec", dont_inherit=True)
            ast.parse(source, relpath, feature_version=(3, 8))
        except SyntaxError as err:
            problems.append(Problem(relpath, err.lineno or 1, "does not compile: {}".format(err.msg)))
    return problems


def check_style(root):
    """pycodestyle's complaints about the tree, run the way the autograder runs it (empty when clean)."""
    run = subprocess.run([sys.executable, "-m", "pycodestyle", "--max-line-length", str(MAX_LINE), "."], cwd=root,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
    return [] if run.returncode == 0 else run.stdout.splitlines() or ["pycodestyle exited {}".format(run.returncode)]


def style_key(line):
    """``./lib/x.py:30:121: E501 ...`` -> ``("./lib/x.py", "E501")``: comparable across shifted line numbers."""
    parts = line.split(":", 3)
    return (parts[0], parts[3].split()[0]) if len(parts) == 4 and parts[3].split() else (line, "")


def new_style_problems(handout_lines, solution_lines):
    """How many of the hand-out's pycodestyle complaints the solution does not have as well."""
    solution = Counter(style_key(line) for line in solution_lines)
    return sum((Counter(style_key(line) for line in handout_lines) - solution).values())


def module_name(relpath):
    name = relpath[:-3].replace("/", ".")
    return name[:-len(".__init__")] if name.endswith(".__init__") else name


def imports_and_strings(root, relpath):
    """Module names a test file imports and the string literals it holds."""
    with open(os.path.join(root, relpath), "rb") as handle:
        tree = ast.parse(handle.read(), relpath)
    package = module_name(relpath).split(".")[:-1]
    modules, strings = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            prefix = ".".join(base + ([node.module] if node.module else []))
            modules.add(prefix)
            modules.update((prefix + "." if prefix else "") + alias.name for alias in node.names)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            strings.add(node.value)
    return modules, strings


def map_tests(root, modules):
    """``{module relpath: [test file relpaths]}``: test files that import the module or name its file."""
    tests = [f for f in python_files(root) if TEST_FILE.match(os.path.basename(f))]
    targets = {test: imports_and_strings(root, test) for test in tests}
    mapping = {}
    for relpath in modules:
        names = {relpath, os.path.basename(relpath)} - {"__init__.py"}
        mapping[relpath] = [test for test, (imported, strings) in sorted(targets.items())
                            if module_name(relpath) in imported
                            or any(s in names or s.endswith("/" + relpath) for s in strings)]
    return mapping


def run_pytest(root, test_files, extra_args, hide_root=None):
    """Run ``test_files`` under ``root``; return ``{nodeid: "passed" | "skipped" | "failed"}``.

    ``hide_root``: PYTHONPATH entries inside it are dropped, so the solution cannot leak into the hand-out.
    """
    if not test_files:
        return {}
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "handout_outcomes.py"), "w") as handle:
            handle.write(PLUGIN_SOURCE)
        outcomes_path = os.path.join(tmp, "outcomes.jsonl")
        paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
        if hide_root:
            paths = [p for p in paths if not inside(os.path.abspath(p), hide_root)]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([tmp] + paths), HANDOUT_OUTCOMES=outcomes_path,
                   PYTHONDONTWRITEBYTECODE="1")
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "handout_outcomes",
                   "--continue-on-collection-errors", "--rootdir", root] + extra_args + test_files
        run = subprocess.run(command, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             universal_newlines=True)
        if run.returncode not in (0, 1, 5):  # 5: every test deselected by --pytest-args
            tail = "\n".join(run.stdout.splitlines()[-15:])
            raise UserError("pytest exited {} in {}:\n{}".format(run.returncode, root, tail))
        outcomes = {}
        if os.path.exists(outcomes_path):
            with open(outcomes_path) as handle:
                for line in handle:
                    nodeid, outcome = json.loads(line)
                    if RANK[outcome] >= RANK[outcomes.get(nodeid, "passed")]:
                        outcomes[nodeid] = outcome
        return outcomes


def with_outcome(outcomes, test_files, outcome):
    """Sorted node ids of ``test_files`` whose outcome is ``outcome``."""
    return sorted(nodeid for nodeid, value in outcomes.items()
                  if nodeid.split("::")[0] in test_files and value == outcome)


def verdict(row, isolate):
    if not row["files"]:
        return "FAIL: no test file imports it"
    if row["sol_failed"]:
        return "FAIL: {} test(s) fail in the solution".format(row["sol_failed"])
    if not row["sol_passed"]:
        return "FAIL: no test passes in the solution"
    if not row["out_failed"]:
        return "FAIL: no test fails in the hand-out"
    if isolate and not row["iso_failed"]:
        return "FAIL: no test fails with only this module emptied"
    return "ok"


def print_table(rows, isolate):
    header = ["module", "blocks", "test files", "pass in solution", "fail in hand-out"]
    header += ["fail alone"] if isolate else []
    header += ["verdict"]
    table = [header]
    for row in rows:
        total = row["total"]
        cells = [row["module"], str(row["blocks"]), str(len(row["files"])),
                 "{}/{}".format(row["sol_passed"], total), "{}/{}".format(row["out_failed"], total)]
        cells += ["{}/{}".format(row["iso_failed"], total)] if isolate else []
        table.append(cells + [row["verdict"]])
    widths = [max(len(line[i]) for line in table) for i in range(len(header) - 1)]
    for line in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths)) + "  " + line[-1])


def check_tests(source, out_dir, plan, extra_args, isolate, progress):
    """Run the mapped tests in both trees (and per module with --isolate); return the table's rows."""
    mapping = map_tests(out_dir, sorted(plan.blocks))
    test_files = sorted({test for files in mapping.values() for test in files})
    progress.set_description("pytest in the solution")
    solution = run_pytest(source, test_files, extra_args)
    progress.update()
    progress.set_description("pytest in the hand-out")
    handout = run_pytest(out_dir, test_files, extra_args, hide_root=source)
    progress.update()
    alone = run_isolated(source, out_dir, plan, mapping, extra_args, progress) if isolate else {}
    rows = []
    for relpath in sorted(plan.blocks):
        files = set(mapping[relpath])
        nodeids = {n for n in set(solution) | set(handout) if n.split("::")[0] in files}
        row = {"module": relpath, "blocks": plan.blocks[relpath], "files": mapping[relpath], "total": len(nodeids),
               "sol_passed": len(with_outcome(solution, files, "passed")),
               "sol_failed": len(with_outcome(solution, files, "failed")),
               "out_failed": len(with_outcome(handout, files, "failed")),
               "iso_failed": len(with_outcome(alone.get(relpath, {}), files, "failed"))}
        row["verdict"] = verdict(row, isolate)
        rows.append(row)
    failing = with_outcome(solution, set(test_files), "failed")
    return rows, failing


def run_isolated(source, out_dir, plan, mapping, extra_args, progress):
    """``{module: outcomes}`` of its tests in a copy of the hand-out where only that module is emptied."""
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        tree = os.path.join(tmp, "handout")
        shutil.copytree(out_dir, tree, symlinks=True, ignore=shutil.ignore_patterns(".git"))
        for relpath in sorted(plan.blocks):
            progress.set_description("pytest, only {} emptied".format(relpath))
            for other in plan.blocks:
                shutil.copyfile(os.path.join(out_dir if other == relpath else source, other),
                                os.path.join(tree, other))
            results[relpath] = run_pytest(tree, mapping[relpath], extra_args, hide_root=source)
            progress.update()
    return results


def check(source, out_dir, plan, extra_args, isolate):
    """Run every check on the written hand-out and print the results; True when all pass."""
    progress = tqdm(total=4 + (len(plan.blocks) if isolate else 0), desc="compiling", leave=False, disable=None)
    compile_problems = check_compiles(out_dir)
    progress.update()
    progress.set_description("pycodestyle")
    style_problems = check_style(out_dir)
    new_style = new_style_problems(style_problems, check_style(source)) if style_problems else 0
    progress.update()
    rows, failing = check_tests(source, out_dir, plan, extra_args, isolate, progress)
    progress.close()

    for problem in compile_problems:
        print(format_problem(problem))
    print("compile (this Python and the 3.8 grammar): {}".format(
        "ok" if not compile_problems else "FAIL in {} file(s)".format(len(compile_problems))))
    for line in style_problems[:30]:
        print(line)
    print("pycodestyle --max-line-length {}: {}".format(MAX_LINE, "ok" if not style_problems else
                                                        "FAIL ({} problems, {} of them not in the solution)".format(
                                                            len(style_problems), new_style)))
    print_table(rows, isolate)
    print("(tests: those of the test files that import the module or name its file; 'alone': only that module "
          "emptied)" if isolate else "(tests: those of the test files that import the module or name its file)")
    for nodeid in failing:
        print("fails in the solution: " + nodeid)
    ok = not compile_problems and not style_problems and all(row["verdict"] == "ok" for row in rows)
    print("check: {}".format("ok" if ok else "FAILED"))
    return ok


# ---------------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------------

def parse_args(argv):
    parser = argparse.ArgumentParser(description="Copy the repository into OUT_DIR with every solution block "
                                                 "emptied (the student hand-out), and optionally check it.")
    parser.add_argument("out_dir", help="folder to write the hand-out into (must be empty unless --force)")
    parser.add_argument("--source", default=REPO_ROOT, help="solution repository (default: this one)")
    parser.add_argument("--force", action="store_true", help="empty a non-empty OUT_DIR first")
    parser.add_argument("--check", action="store_true",
                        help="compile, pycodestyle and run the tests in solution and hand-out; print a table")
    parser.add_argument("--isolate", action="store_true",
                        help="with --check: also run each module's tests with only that module emptied")
    parser.add_argument("--exclude-file", default=None,
                        help="manifest of excluded paths (default: SOURCE/{} if present)".format(MANIFEST))
    parser.add_argument("--pytest-args", default="", help="extra pytest arguments, e.g. \"-m 'not slow'\"")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    source = os.path.realpath(args.source)
    out_dir = os.path.realpath(args.out_dir)
    if not os.path.isdir(source):
        raise UserError("--source {} is not a folder".format(args.source))
    manifest = args.exclude_file
    if manifest is None and os.path.isfile(os.path.join(source, MANIFEST)):
        manifest = os.path.join(source, MANIFEST)
    if manifest is not None and not os.path.isfile(manifest):
        raise UserError("--exclude-file {} does not exist".format(manifest))
    try:
        extra_args = shlex.split(args.pytest_args)
    except ValueError as err:
        raise UserError("--pytest-args: {}".format(err))
    plan = build(source, out_dir, args.force, manifest)
    if args.check or args.isolate:
        return 0 if check(source, out_dir, plan, extra_args, args.isolate) else 1
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
