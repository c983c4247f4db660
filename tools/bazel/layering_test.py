"""Layering check: every ``qlsgan_tf`` import follows the deps of the room libraries.

The rooms' ``py_library`` deps (``qlsgan_tf/<room>/BUILD``) are the allowed import arrows of
docs/architecture.md (cli -> study -> tuning -> training -> metrics / models / layers -> data;
study -> analysis, which imports no room).
Python does not enforce them, so this test reads each room's BUILD file and every module of the
room, and fails for an import of a room that the room does not depend on, directly or
transitively. Imports inside functions count, and so do lazy imports written as a plain module
string (``importlib.import_module("qlsgan_tf.models.mlp")``).

Runs under Bazel (``bazel test //tools/bazel:layering_test``) or directly from the repository
root (``.venv/bin/python tools/bazel/layering_test.py``).
"""
import ast
import os
import pathlib
import re
import sys
import tempfile
import unittest

# Not resolved: under Bazel the runfiles tree holds exactly the files the libraries declare.
ROOT = pathlib.Path(os.path.abspath(__file__)).parents[2]
PACKAGE = ROOT / "qlsgan_tf"
ROOMS = ("analysis", "cli", "data", "layers", "metrics", "models", "study", "training",
         "tuning")
#: Rooms that import no other room (the TF-free statistics).
LEAVES = ("analysis", "data")
_MODULE_STRING = re.compile(r"qlsgan_tf(\.[A-Za-z_]\w*)+")
_ROOM_LABEL = re.compile(r"//qlsgan_tf/(\w+)(?::(\w+))?$")


def room_deps(room):
    """The rooms named in the deps of ``//qlsgan_tf/<room>``'s py_library."""
    build = PACKAGE / room / "BUILD"
    tree = ast.parse(build.read_text(encoding="utf-8"), filename=str(build))
    deps = set()
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "py_library"):
            continue
        for keyword in node.keywords:
            if keyword.arg != "deps":
                continue
            for const in ast.walk(keyword.value):
                if isinstance(const, ast.Constant) and isinstance(const.value, str):
                    match = _ROOM_LABEL.match(const.value)
                    if match:
                        deps.add(match.group(1))
    return deps


def allowed_rooms(graph, room):
    """``room`` and every room reachable through the deps graph."""
    seen, todo = set(), [room]
    while todo:
        current = todo.pop()
        if current not in seen:
            seen.add(current)
            todo.extend(graph.get(current, ()))
    return seen


def _module_name(path, root):
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def qlsgan_imports(path, root=ROOT):
    """(line, imported module) for every ``qlsgan_tf`` module that ``path`` imports.

    ``root`` is the directory holding ``qlsgan_tf``; relative imports resolve against it.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    module = _module_name(path, root)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            if base == "qlsgan_tf":  # `from qlsgan_tf import data` imports a room
                found.extend((node.lineno, f"qlsgan_tf.{alias.name}") for alias in node.names)
            else:
                found.append((node.lineno, base))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if _MODULE_STRING.fullmatch(node.value):
                found.append((node.lineno, node.value))
    return [(line, name) for line, name in found
            if name == "qlsgan_tf" or name.startswith("qlsgan_tf.")]


def violations(room, graph, top_modules, package=PACKAGE):
    """Human-readable lines, one per import that breaks the layering.

    ``room`` "" stands for the package's top-level modules, which may import no room.
    """
    root = package.parent
    allowed = allowed_rooms(graph, room) if room else set()
    files = sorted((package / room).rglob("*.py")) if room else sorted(package.glob("*.py"))
    problems = []
    for path in files:
        for line, name in qlsgan_imports(path, root):
            parts = name.split(".")
            if len(parts) == 1 or parts[1] in top_modules:
                continue
            target = parts[1]
            where = f"{path.relative_to(root)}:{line} imports {name}"
            if target not in ROOMS:
                problems.append(f"{where}: qlsgan_tf.{target} is neither a top-level module nor "
                                f"a room with a BUILD file (add it to qlsgan_tf/BUILD ROOMS)")
            elif target not in allowed:
                owner = f"//qlsgan_tf/{room}" if room else "//qlsgan_tf:package"
                problems.append(f"{where}, but {owner} does not depend on //qlsgan_tf/{target}")
    return problems


class LayeringTest(unittest.TestCase):
    """One sub-test per room, plus the package's top-level modules (which import no room)."""

    @classmethod
    def setUpClass(cls):
        cls.graph = {room: room_deps(room) for room in ROOMS}
        cls.top_modules = {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"}

    def test_build_deps_are_rooms(self):
        for room, deps in self.graph.items():
            with self.subTest(room=room):
                self.assertLessEqual(deps, set(ROOMS), f"//qlsgan_tf/{room} deps")

    def test_dependency_graph_is_acyclic_and_points_down_to_data(self):
        for room in ROOMS:
            with self.subTest(room=room):
                below = allowed_rooms(self.graph, room) - {room}
                for other in below:
                    self.assertNotIn(room, allowed_rooms(self.graph, other),
                                     f"cycle between {room} and {other}")
                if room not in LEAVES:
                    self.assertIn("data", below, f"{room} should reach data")

    def test_architecture_arrows(self):
        """The documented chain: each room reaches exactly the rooms below it."""
        chain = {
            "analysis": set(),
            "data": set(),
            "layers": {"data"},
            "models": {"data"},
            "metrics": {"data"},
            "training": {"layers", "models", "metrics", "data"},
        }
        chain["tuning"] = chain["training"] | {"training"}
        chain["study"] = chain["tuning"] | {"tuning", "analysis"}
        chain["cli"] = chain["study"] | {"study"}
        for room, below in chain.items():
            with self.subTest(room=room):
                self.assertEqual(allowed_rooms(self.graph, room) - {room}, below)

    def test_imports_follow_build_deps(self):
        for room in ROOMS + ("",):
            with self.subTest(room=room or "qlsgan_tf (top level)"):
                problems = violations(room, self.graph, self.top_modules)
                self.assertFalse(problems, "\n" + "\n".join(problems))

    def _probe_tree(self, files):
        """A throw-away qlsgan_tf tree holding ``files`` ({relative path: source})."""
        package = pathlib.Path(tempfile.mkdtemp(dir=os.environ.get("TEST_TMPDIR"))) / "qlsgan_tf"
        for relative, source in files.items():
            path = package / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(source, encoding="utf-8")
        return package

    def test_checker_sees_lazy_and_relative_imports(self):
        """A relative, an in-function and a string import are all found; prose is not."""
        package = self._probe_tree({"layers/probe.py": (
            "from ..models import mlp\n"
            "def f():\n"
            "    import qlsgan_tf.training.hybrid\n"
            "LAZY = {'X': 'qlsgan_tf.study.runner'}\n"
            "DOC = 'see qlsgan_tf.cli for the commands'\n"
        )})
        names = [name for _, name in qlsgan_imports(package / "layers/probe.py", package.parent)]
        self.assertEqual(sorted(names), ["qlsgan_tf.models", "qlsgan_tf.study.runner",
                                         "qlsgan_tf.training.hybrid"])

    def test_checker_reports_upward_sibling_and_unknown_imports(self):
        package = self._probe_tree({
            "data/core.py": "from qlsgan_tf.training import latent_gan\n",
            "layers/style.py": "import qlsgan_tf.models.mlp\nfrom qlsgan_tf.data import core\n",
            "training/fit.py": "from qlsgan_tf import data, compat\nimport qlsgan_tf.layers\n",
            "cli/x.py": "import qlsgan_tf.utils\n",
            "__init__.py": "from qlsgan_tf import compat\n",
            "compat.py": "import qlsgan_tf.data\n",
        })
        found = {room: violations(room, self.graph, {"compat"}, package)
                 for room in ("data", "layers", "training", "cli", "")}
        self.assertEqual(found["data"], [
            "qlsgan_tf/data/core.py:1 imports qlsgan_tf.training, "
            "but //qlsgan_tf/data does not depend on //qlsgan_tf/training"])
        self.assertEqual(found["layers"], [
            "qlsgan_tf/layers/style.py:1 imports qlsgan_tf.models.mlp, "
            "but //qlsgan_tf/layers does not depend on //qlsgan_tf/models"])
        self.assertEqual(found["training"], [])
        self.assertEqual(len(found["cli"]), 1)
        self.assertIn("qlsgan_tf.utils is neither a top-level module nor a room", found["cli"][0])
        self.assertEqual(found[""], [
            "qlsgan_tf/compat.py:1 imports qlsgan_tf.data, "
            "but //qlsgan_tf:package does not depend on //qlsgan_tf/data"])


if __name__ == "__main__":
    sys.exit(unittest.main())
