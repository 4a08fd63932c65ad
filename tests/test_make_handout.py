"""The hand-out builder, on a small made-up package in tmp_path (no torch, a few seconds in all)."""
import ast
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import textwrap

import pycodestyle
import pytest

from lib.cli import UserError
from tools import make_handout

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CALC = '''\
"""A made-up module with two solution blocks."""


class Scaler:
    """Multiplies by a fixed factor."""

    def __init__(self, factor):
        # TODO: store the factor.
        # START TODO ####
        self.factor = factor
        # END TODO ####

    def __call__(self, x):
        return x * self.factor


def add(a, b):
    """Return a + b."""
    # TODO: add the two numbers,
    #  then return their sum.
    # START TODO ####
    total = a + b
    # END TODO ####
    return total
'''

PACKAGE = {
    "pkg/__init__.py": '"""A made-up package."""\n',
    "pkg/calc.py": CALC,
    "pkg/util.py": '"""No blocks here."""\n\n\ndef twice(x):\n    return 2 * x\n',
    "tests/test_calc.py": ("from pkg.calc import Scaler, add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n\n\n"
                           "def test_scaler():\n    assert Scaler(2)(4) == 8\n"),
    "tests/test_util.py": "from pkg import util\n\n\ndef test_twice():\n    assert util.twice(3) == 6\n",
    "tools/handout_exclude.txt": "# instructors only\nresults*/\nreference/\ndocs/answers*.md\n",
    "results_kl1.0/model.pth": "weights",
    "reference/generator.pth": "weights",
    "docs/answers_vae.md": "the answers",
    "docs/notes.md": "notes for students",
    "pkg/__pycache__/calc.cpython-38.pyc": "bytecode",
    ".venv/lib/site.py": "x = 1\n",
}
# A module whose only test never reaches its block: --check must call that out.
WEAK = {
    "pkg/weak.py": ('"""Half tested."""\n\n\ndef one():\n    return 1\n\n\ndef double(x):\n'
                    '    # TODO: double x.\n    # START TODO ####\n    y = 2 * x\n    # END TODO ####\n    return y\n'),
    "tests/test_weak.py": "from pkg.weak import one\n\n\ndef test_one():\n    assert one() == 1\n",
    # ...and one whose test already fails in the solution.
    "pkg/broken.py": ('def half(x):\n    # TODO: halve x.\n    # START TODO ####\n    return x // 2\n'
                      '    # END TODO ####\n'),
    "tests/test_broken.py": "from pkg.broken import half\n\n\ndef test_half():\n    assert half(3) == 1.5\n",
}


def write_tree(root, files):
    for relpath, text in files.items():
        path = os.path.join(str(root), relpath)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as handle:
            handle.write(text)


def read(root, relpath):
    with open(os.path.join(str(root), relpath)) as handle:
        return handle.read()


def build(source, out, *flags):
    return make_handout.main([str(out), "--source", str(source)] + list(flags))


@pytest.fixture
def solution(tmp_path):
    root = tmp_path / "solution"
    write_tree(root, PACKAGE)
    return root


@pytest.fixture
def handout(solution, tmp_path):
    out = tmp_path / "handout"
    assert build(solution, out) == 0
    return out


def load(path, name):
    spec = importlib.util.spec_from_file_location(name, str(path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_handout_compiles_keeps_instructions_and_drops_solutions(handout):
    text = read(handout, "pkg/calc.py")
    compile(text, "calc.py", "exec")
    ast.parse(text, feature_version=(3, 8))
    style = pycodestyle.StyleGuide(max_line_length=120, quiet=True)
    assert style.check_files([str(handout / "pkg" / "calc.py")]).total_errors == 0
    for kept in ("# TODO: store the factor.", "# TODO: add the two numbers,", "#  then return their sum.",
                 "return x * self.factor", "return total", '"""Return a + b."""'):
        assert kept in text
    assert text.count("        # START TODO ####\n") == 1 and text.count("    # START TODO ####\n") == 2
    assert text.count("# END TODO ####") == 2
    assert "self.factor = factor" not in text and "total = a + b" not in text
    assert read(handout, "pkg/util.py") == PACKAGE["pkg/util.py"]
    assert read(handout, "tests/test_calc.py") == PACKAGE["tests/test_calc.py"]


def test_placeholders_raise_not_implemented_at_the_block(handout):
    calc = load(handout / "pkg" / "calc.py", "handout_calc")
    lines = read(handout, "pkg/calc.py").splitlines()
    with pytest.raises(NotImplementedError) as add_error:
        calc.add(2, 3)
    with pytest.raises(NotImplementedError) as init_error:
        calc.Scaler(2)
    for error, instruction in ((add_error, "add the two numbers, then return their sum."),
                               (init_error, "store the factor.")):
        match = re.match(r"TODO in pkg/calc\.py:(\d+): (.*)$", str(error.value))
        assert match and match.group(2) == instruction
        assert lines[int(match.group(1)) - 1].strip() == "# START TODO ####"


def test_excluded_paths_are_not_copied(handout):
    assert os.path.isfile(str(handout / "docs" / "notes.md"))
    assert os.path.isfile(str(handout / "tests" / "test_util.py"))
    for missing in ("results_kl1.0", "reference", "docs/answers_vae.md", "pkg/__pycache__", ".venv"):
        assert not os.path.exists(str(handout / missing)), missing


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_with_git_only_files_git_would_commit_are_copied(solution, tmp_path):
    write_tree(solution, {".gitignore": "*.log\n", "debug.log": "noise", "pkg/new.py": "X = 1\n"})
    subprocess.run(["git", "init", "-q", str(solution)], check=True)
    out = tmp_path / "handout"
    assert build(solution, out) == 0
    assert os.path.isfile(str(out / "pkg" / "new.py"))  # untracked but not ignored: part of the work
    assert os.path.isfile(str(out / ".gitignore"))
    for missing in ("debug.log", ".git", "reference", "docs/answers_vae.md"):
        assert not os.path.exists(str(out / missing)), missing


def table_row(output, module):
    rows = [line.split() for line in output.splitlines() if line.startswith(module + " ")]
    assert len(rows) == 1, output
    return rows[0]


def test_check_table_passes_in_solution_fails_in_handout(solution, tmp_path, capsys):
    assert build(solution, tmp_path / "handout", "--check", "--isolate") == 0
    output = capsys.readouterr().out
    # module, blocks, test files, pass in solution, fail in hand-out, fail alone, verdict
    assert table_row(output, "pkg/calc.py") == ["pkg/calc.py", "2", "1", "2/2", "2/2", "2/2", "ok"]
    assert "pkg/util.py" not in output  # no blocks, no row
    assert "compile (this Python and the 3.8 grammar): ok" in output
    assert "pycodestyle --max-line-length 120: ok" in output
    assert output.rstrip().endswith("check: ok")
    assert not os.path.exists(str(tmp_path / "handout" / ".pytest_cache"))


def test_check_fails_for_untested_blocks_and_failing_solutions(solution, tmp_path, capsys):
    write_tree(solution, WEAK)
    assert build(solution, tmp_path / "handout", "--check") == 1
    output = capsys.readouterr().out
    assert table_row(output, "pkg/calc.py")[-1] == "ok"
    assert " ".join(table_row(output, "pkg/weak.py")[3:]) == "1/1 0/1 FAIL: no test fails in the hand-out"
    assert " ".join(table_row(output, "pkg/broken.py")[3:]) == "0/1 1/1 FAIL: 1 test(s) fail in the solution"
    assert "fails in the solution: tests/test_broken.py::test_half" in output
    assert output.rstrip().endswith("check: FAILED")


BAD_MARKERS = [
    ("nested", "def f():\n    # START TODO ####\n    x = 1\n    # START TODO ####\n    y = 2\n    # END TODO ####\n"
     "    # END TODO ####\n    return x + y\n", 4, "nested START TODO: the block opened at line 2"),
    ("end without start", "def f():\n    x = 1\n    # END TODO ####\n    return x\n", 3,
     "END TODO without a START TODO"),
    ("start without end", "def f():\n    # START TODO ####\n    x = 1\n    return x\n", 2,
     "START TODO without an END TODO"),
    ("three hashes", "def f():\n    # START TODO ###\n    return 1\n    # END TODO ####\n", 2, "odd marker spelling"),
    ("no spaces", "def f():\n    #START TODO####\n    return 1\n    # END TODO ####\n", 2, "odd marker spelling"),
    ("title case", "def f():\n    # START TODO ####\n    return 1\n    # End Todo ####\n", 4, "odd marker spelling"),
    ("after code", "def f():\n    x = 1  # START TODO ####\n    return x\n    # END TODO ####\n", 2,
     "marker '# START TODO ####' must be on a line of its own"),
    ("end indent", "def f():\n    # START TODO ####\n    return 1\n  # END TODO ####\n", 4,
     "END TODO indented differently from its START TODO at line 2"),
    ("start indent", "def f():\n# START TODO ####\n    return 1\n# END TODO ####\n", 2,
     "START TODO is indented by 0 but the code of its block by 4"),
    ("inside a call", "X = max(\n    1,\n    # START TODO ####\n    2,\n    # END TODO ####\n)\n", 3,
     "the block sits inside the statement at line 1"),
    ("cuts a statement", "def f(a):\n    # START TODO ####\n    y = (a +\n    # END TODO ####\n         1)\n"
     "    return y\n", 2, "the block cuts the statement at line 3 in two"),
    ("across else", "def f(a):\n    if a:\n        # START TODO ####\n        x = 1\n    else:\n        x = 2\n"
     "        # END TODO ####\n    return x\n", 3, "the block spans several statement bodies"),
]


@pytest.mark.parametrize("source, line, message", [case[1:] for case in BAD_MARKERS],
                         ids=[case[0] for case in BAD_MARKERS])
def test_marker_problems_are_reported_with_file_and_line(solution, tmp_path, capsys, source, line, message):
    write_tree(solution, {"pkg/bad.py": source})
    out = tmp_path / "handout"
    with pytest.raises(UserError, match="nothing was written"):
        build(solution, out)
    assert "pkg/bad.py:{}: {}".format(line, message) in capsys.readouterr().err
    assert not os.path.exists(str(out))


def test_every_problem_of_a_file_is_reported(solution, tmp_path, capsys):
    write_tree(solution, {"pkg/bad.py": "# END TODO ####\nX = 1\n# START TODO ####\nY = 2\n"})
    with pytest.raises(UserError, match="2 marker problem"):
        build(solution, tmp_path / "handout")
    err = capsys.readouterr().err
    assert "pkg/bad.py:1: END TODO without a START TODO" in err
    assert "pkg/bad.py:3: START TODO without an END TODO" in err


def test_marker_text_inside_strings_is_not_a_marker():
    source = ('"""Docs.\n\n# START TODO ####\nnot code\n# END TODO ####\n"""\n\n\ndef f():\n    # TODO: return 1.\n'
              '    # START TODO ####\n    return 1\n    # END TODO ####\n')
    handout, blocks, warnings = make_handout.empty_blocks("pkg/doc.py", source)
    assert blocks == 1 and not warnings
    assert handout.startswith('"""Docs.\n\n# START TODO ####\nnot code\n# END TODO ####\n"""\n')
    assert "return 1\n" not in handout


def test_module_and_class_level_blocks_keep_the_module_importable():
    source = textwrap.dedent('''\
        """Blocks outside functions."""
        import functools


        # TODO: write the helpers.
        # START TODO ####
        @functools.lru_cache(maxsize=None)
        def helper(x):
            return x + 1


        class Thing(object):
            pass
        # END TODO ####


        class Box:
            # TODO: add the method.
            # START TODO ####
            def size(self):
                return 3
            # END TODO ####

            def label(self):
                return "box"
        ''')
    handout, blocks, _ = make_handout.empty_blocks("pkg/outside.py", source)
    assert blocks == 2 and "return x + 1" not in handout and "return 3" not in handout
    for text in (source, handout):  # as clean as the solution it came from
        assert pycodestyle.Checker(lines=text.splitlines(True), max_line_length=120, quiet=True).check_all() == 0
    namespace = {}
    exec(compile(handout, "outside.py", "exec"), namespace)
    assert namespace["Box"]().label() == "box"  # the rest of the module still works
    for call in (lambda: namespace["helper"](1), namespace["Thing"], lambda: namespace["Box"]().size()):
        with pytest.raises(NotImplementedError, match=r"TODO in pkg/outside\.py:\d+: "):
            call()


def test_module_level_block_of_plain_statements_raises_at_import():
    source = "# TODO: set the constant.\n# START TODO ####\nLIMIT = 3\n# END TODO ####\n"
    handout, _, _ = make_handout.empty_blocks("pkg/const.py", source)
    with pytest.raises(NotImplementedError, match=r"pkg/const\.py:2: set the constant\."):
        exec(compile(handout, "const.py", "exec"), {})


def test_long_instructions_are_cut_to_the_line_length():
    words = " ".join(["word"] * 40)
    source = ("class A:\n    def f(self):\n        if True:\n            # TODO: {}\n            #  {}\n"
              "            # START TODO ####\n            return 1\n            # END TODO ####\n").format(words, words)
    handout, _, _ = make_handout.empty_blocks("pkg/long.py", source)
    placeholder = handout.splitlines()[6]
    assert placeholder.startswith('            raise NotImplementedError("TODO in pkg/long.py:6: word word')
    assert placeholder.endswith(' ...")') and len(placeholder) <= 120


def test_missing_instruction_is_a_warning(solution, tmp_path, capsys):
    write_tree(solution, {"pkg/bare.py": "def f():\n    # START TODO ####\n    return 1\n    # END TODO ####\n"})
    assert build(solution, tmp_path / "handout") == 0
    assert "warning: pkg/bare.py:2: no instruction comment above START TODO" in capsys.readouterr().err


def test_non_empty_out_dir_needs_force(solution, tmp_path):
    out = tmp_path / "handout"
    write_tree(out, {"stale.txt": "old", ".git/HEAD": "ref: refs/heads/main\n"})
    with pytest.raises(UserError, match="--force"):
        build(solution, out)
    assert build(solution, out, "--force") == 0
    assert not os.path.exists(str(out / "stale.txt"))
    assert read(out, ".git/HEAD") == "ref: refs/heads/main\n"  # a hand-out clone keeps its history
    assert os.path.isfile(str(out / "pkg" / "calc.py"))


def test_refuses_to_write_over_the_repository(solution):
    with pytest.raises(UserError, match="the repository, a folder above it"):
        build(solution, solution, "--force")
    with pytest.raises(UserError, match="the repository, a folder above it"):
        build(solution, solution.parent, "--force")
    assert read(solution, "pkg/calc.py") == CALC


def test_exclusion_patterns():
    patterns = ["results*/", "docs/answers*.md", "*.pth", "dataset/*/"]
    excluded = make_handout.is_excluded
    assert excluded("results_kl1.0/model.png", patterns)
    assert excluded("sub/results/x.txt", patterns)  # no slash inside: any depth
    assert not excluded("lib/results.py", patterns)  # a folder pattern never names a file
    assert excluded("docs/answers_gan.md", patterns)
    assert not excluded("lib/docs/answers_gan.md", patterns)  # slash inside: anchored at the root
    assert excluded("lib/weights/g.pth", patterns)
    assert excluded("dataset/train/1/a.jpg", patterns) and not excluded("dataset/README.md", patterns)


def test_tests_map_to_modules_they_import_or_name(tmp_path):
    write_tree(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/a.py": "",
        "pkg/b.py": "",
        "run_x.py": "",
        "tests/test_a.py": "from pkg import a\n",
        "tests/test_b.py": "import pkg.b as bee\n",
        "tests/test_script.py": "import subprocess\nsubprocess.run(['python', 'run_x.py'])\n",
        "tests/helper.py": "from pkg import a, b\n",  # not a test file
    })
    mapping = make_handout.map_tests(str(tmp_path), ["pkg/a.py", "pkg/b.py", "run_x.py"])
    assert mapping == {"pkg/a.py": ["tests/test_a.py"], "pkg/b.py": ["tests/test_b.py"],
                       "run_x.py": ["tests/test_script.py"]}


def test_script_prints_one_line_errors(solution, tmp_path):
    out = tmp_path / "handout"
    write_tree(out, {"stale.txt": "old"})
    run = subprocess.run([sys.executable, os.path.join(REPO_ROOT, "tools", "make_handout.py"), str(out),
                          "--source", str(solution)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         universal_newlines=True)
    assert run.returncode == 2
    assert run.stderr.startswith("error: ") and "--force" in run.stderr and len(run.stderr.splitlines()) == 1


def test_crlf_line_ends_are_kept():
    source = "def f():\r\n    # TODO: return one.\r\n    # START TODO ####\r\n    return 1\r\n    # END TODO ####\r\n"
    handout, blocks, _ = make_handout.empty_blocks("pkg/crlf.py", source)
    assert blocks == 1 and "\n" not in handout.replace("\r\n", "")
    assert '    raise NotImplementedError("TODO in pkg/crlf.py:3: return one.")\r\n' in handout


def test_style_problems_the_solution_has_too_are_told_apart():
    solution = ["./a.py:3:121: E501 line too long (130 > 120 characters)"]
    handout = ["./a.py:5:121: E501 line too long (130 > 120 characters)", "./b.py:1:1: W391 blank line at end of file"]
    assert make_handout.new_style_problems(handout, solution) == 1
