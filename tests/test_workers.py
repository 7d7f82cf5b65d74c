"""Python workers freeze what they keep before each task (:mod:`latentspark.workers`), and
every ``mapInArrow`` function of the package goes through :func:`arrow_task`."""

from __future__ import annotations

import ast
import gc
import sys
from pathlib import Path

import pyarrow as pa

from latentspark.workers import arrow_task, settle

PACKAGE = Path(__file__).resolve().parents[1] / "latentspark"


def _map_in_arrow_calls(tree: ast.AST):
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == "mapInArrow"):
            yield node


def test_every_map_in_arrow_function_of_the_package_is_an_arrow_task():
    seen, bare = 0, []
    for path in sorted(PACKAGE.rglob("*.py")):
        for call in _map_in_arrow_calls(ast.parse(path.read_text(encoding="utf-8"))):
            seen += 1
            fn = call.args[0] if call.args else None
            if not (isinstance(fn, ast.Call) and isinstance(fn.func, ast.Name)
                    and fn.func.id == "arrow_task"):
                bare.append(f"{path.relative_to(PACKAGE.parent)}:{call.lineno}")
    assert seen >= 20  # the walk found the package's jobs
    assert not bare, f"mapInArrow without arrow_task: {bare}"


def test_settle_freezes_only_when_modules_were_loaded(monkeypatch):
    import latentspark.workers as workers

    frozen = []
    monkeypatch.setattr(gc, "freeze", lambda: frozen.append(1))
    monkeypatch.setattr(workers, "_frozen_at_modules", 0)
    assert settle() and frozen == [1]
    assert not settle() and frozen == [1]          # nothing new: no freeze per task
    monkeypatch.setitem(sys.modules, "latentspark_test_fresh_module", object())
    assert settle() and frozen == [1, 1]           # a module appeared: freeze again


def test_a_task_runs_in_a_worker_whose_kept_objects_are_frozen(spark):
    def report(batches):
        for b in batches:
            yield pa.RecordBatch.from_pydict({"n": [b.num_rows], "frozen": [gc.get_freeze_count()]})

    rows = spark.range(0, 400, numPartitions=4).mapInArrow(
        arrow_task(report), "n BIGINT, frozen BIGINT").collect()
    assert sum(r["n"] for r in rows) == 400
    # the workers' modules (pyspark, pyarrow, this test's) sit in the permanent generation
    assert min(r["frozen"] for r in rows) > 10_000


def test_workers_fork_from_latentspark_daemon_with_the_installed_pyspark(spark):
    def report(batches):
        import pyspark

        main = sys.modules["__main__"]
        for _ in batches:
            yield pa.RecordBatch.from_pydict({
                "daemon": [getattr(getattr(main, "__spec__", None), "name", None)],
                "pyspark": [pyspark.__file__],
                "numba": ["numba" in sys.modules]})

    rows = spark.range(0, 100, numPartitions=2).mapInArrow(
        arrow_task(report), "daemon STRING, pyspark STRING, numba BOOLEAN").collect()
    assert rows and {r["daemon"] for r in rows} == {"latentspark.workerdaemon"}
    # bytecode-cached modules, not the source in $SPARK_HOME/python/lib/pyspark.zip
    assert not any(".zip" in r["pyspark"] for r in rows)
    assert all(r["numba"] for r in rows)  # imported once, in the daemon, before the fork


def test_daemon_drops_sparks_zips_only_for_the_same_installed_pyspark(tmp_path):
    import zipfile

    import pyspark

    from latentspark.workerdaemon import installed_pyspark

    site = str(Path(pyspark.__file__).parents[1])
    same = tmp_path / "same" / "pyspark.zip"
    other = tmp_path / "other" / "pyspark.zip"
    for path, version in ((same, pyspark.__version__), (other, "0.0.1")):
        path.parent.mkdir()
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("pyspark/version.py", f'__version__: str = "{version}"\n')
    py4j = str(tmp_path / "same" / "py4j-0.10.9.9-src.zip")
    assert installed_pyspark([str(same), py4j, site]) == ([str(same), py4j],
                                                          pyspark.__version__)
    assert installed_pyspark([str(other), site]) == ([], None)       # another version
    assert installed_pyspark([str(same), str(tmp_path)]) == ([], None)  # none installed
