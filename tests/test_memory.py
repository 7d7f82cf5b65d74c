"""The local driver's memory plan: a heap from the settings, not from the machine, on which
the factorization's memory check passes, and the check still refusing what cannot fit."""

from __future__ import annotations

import pytest

from latentspark.config import Config, load_config
from latentspark.errors import ConfigError
from latentspark.session import (
    HEAP_FLOOR_BYTES,
    LOCAL_JAVA_OPTIONS,
    _console_conf,
    local_conf,
    local_cores,
    local_driver_memory,
    local_memory_plan,
)


class _Conf:
    """Stands for a SparkConf without a JVM."""

    def __init__(self, **values: str) -> None:
        self.values = values

    def contains(self, key: str) -> bool:
        return key in self.values

    def get(self, key: str, default: str | None = None) -> str | None:
        return self.values.get(key, default)


def test_local_cores_follow_the_master():
    assert local_cores("local") == 1
    assert local_cores("local[3]") == 3 and local_cores("local[4,2]") == 4
    assert local_cores("local[*]") >= 1


def test_the_heap_comes_from_the_settings_not_the_machine():
    cfg = load_config(None, ["factorize.dim=100"])
    plan = local_memory_plan(cfg, 2)
    # 2 cores: 300 MiB + 2 x 128 MiB / 0.6 is under the floor, Spark's own default
    assert plan["heap"] == HEAP_FLOOR_BYTES == 2**30
    assert local_driver_memory(cfg, "local[2]") == "1024m"
    assert plan["counting_tasks"] == 2 * (128 << 20)
    # more running tasks, a wider factorization or a larger vocabulary need more heap
    assert local_memory_plan(cfg, 8)["heap"] > plan["heap"]
    wide = local_memory_plan(load_config(None, ["factorize.dim=4096"]), 2)
    assert wide["heap"] > 3 * 2**30 and wide["driver_result"] > 2**29
    big_vocab = local_memory_plan(load_config(None, ["vocab.max_size=5000000"]), 2)
    assert big_vocab["heap"] > 3 * 2**30
    for p in (plan, wide, big_vocab):
        assert p["heap"] % (128 << 20) == 0
        unified = 0.6 * (p["heap"] - (300 << 20))
        assert unified >= p["execution"] and 0.4 * (p["heap"] - (300 << 20)) >= p["user"]


def test_a_local_jvm_gets_its_options_unless_the_user_gave_some(monkeypatch):
    monkeypatch.delenv("PYSPARK_GATEWAY_PORT", raising=False)
    cfg = Config().spark
    local = _console_conf(cfg, _Conf(), local=True)["spark.driver.extraJavaOptions"]
    assert all(opt in local.split() for opt in LOCAL_JAVA_OPTIONS)
    assert "-Dlog4j2.configurationFile" in local
    remote = _console_conf(cfg, _Conf(), local=False)["spark.driver.extraJavaOptions"]
    assert not any(opt in remote for opt in LOCAL_JAVA_OPTIONS)
    mine = _Conf(**{"spark.driver.extraJavaOptions": "-Xss4m"})
    assert "spark.driver.extraJavaOptions" not in _console_conf(cfg, mine, local=True)
    # spark.java_options come after latentspark's own, so that they win where both set one
    extra = load_config(None, ["spark.java_options=-XX:TieredStopAtLevel=1 -Xms64m"]).spark
    got = _console_conf(extra, _Conf(), local=True)["spark.driver.extraJavaOptions"].split()
    assert got[-2:] == ["-XX:TieredStopAtLevel=1", "-Xms64m"] and "-Xms128m" in got
    assert "spark.driver.extraJavaOptions" not in _console_conf(extra, mine, local=True)


def test_local_defaults_apply_unless_the_user_says_otherwise():
    sock = {"spark.python.unix.domain.socket.enabled": "true"}
    daemon = {"spark.python.daemon.module": "latentspark.workerdaemon"}
    both = {"spark.shuffle.compress": "false", **sock, **daemon}
    assert local_conf(Config().spark, _Conf()) == both
    mine = load_config(None, ['spark.conf={"spark.shuffle.compress" = "true"}']).spark
    assert local_conf(mine, _Conf()) == {**sock, **daemon}
    assert local_conf(Config().spark, _Conf(**{"spark.shuffle.compress": "true"})) == {
        **sock, **daemon}
    off = _Conf(**{"spark.python.unix.domain.socket.enabled": "false"})
    assert local_conf(Config().spark, off) == {"spark.shuffle.compress": "false", **daemon}
    own = _Conf(**{"spark.python.daemon.module": "pyspark.daemon"})
    assert local_conf(Config().spark, own) == {"spark.shuffle.compress": "false", **sock}
    # workers whose Python cannot import latentspark keep Spark's own daemon
    elsewhere = _Conf(**{"spark.pyspark.python": "/nowhere/python3"})
    assert local_conf(Config().spark, elsewhere) == {"spark.shuffle.compress": "false", **sock}


@pytest.mark.parametrize("overrides", [["factorize.dim=100"], ["factorize.dim=1000"],
                                       ["factorize.dim=4096", "vocab.max_size=50000"]])
def test_the_planned_heap_passes_the_factorization_check(spark, monkeypatch, overrides):
    from latentspark.stages import embeddings as stages

    cfg = load_config(None, overrides)
    cores = int(spark.sparkContext.defaultParallelism)
    heap = local_memory_plan(cfg, cores)["heap"]
    real = stages._conf_bytes
    monkeypatch.setattr(stages, "_conf_bytes", lambda spark, key, default: heap if
                        key == "spark.driver.memory" else real(spark, key, default))
    monkeypatch.setattr(stages, "available_memory", lambda: 64 * 2**30)
    plan = stages.check_memory(spark, cfg.vocab.max_size, cfg)
    assert 2 * plan["driver_result"] <= 0.6 * heap


def test_the_check_still_refuses_what_cannot_fit(spark, monkeypatch):
    from latentspark.stages import embeddings as stages

    cfg = load_config(None, ["factorize.dim=4096", "vocab.max_size=50000"])
    real = stages._conf_bytes
    # a heap set by hand, smaller than the plan: the Gram records cannot be collected
    monkeypatch.setattr(stages, "_conf_bytes", lambda spark, key, default: 2**30 if
                        key == "spark.driver.memory" else real(spark, key, default))
    with pytest.raises(ConfigError, match="raise spark.driver.memory"):
        stages.check_memory(spark, 50_000, cfg)
    # too little memory per Python worker for a task's rows
    monkeypatch.setattr(stages, "available_memory", lambda: 2**28)
    with pytest.raises(ConfigError, match="raise factorize.tasks"):
        stages.check_memory(spark, 2_000_000, load_config(None, ["factorize.dim=300"]))


def test_release_heap_collects_on_local_spark_only(spark):
    from latentspark.session import release_heap

    jvm = spark.sparkContext._jvm

    def full_collections() -> int:  # the serial collector's (the tests' JVM) old generation
        beans = jvm.java.lang.management.ManagementFactory.getGarbageCollectorMXBeans()
        return sum(b.getCollectionCount() for b in beans if b.getName() == "MarkSweepCompact")

    # a full collection of the local JVM when its heap is larger than the bound; the session
    # stays usable
    runtime = jvm.java.lang.Runtime.getRuntime()
    before = full_collections()
    assert release_heap(spark, min_committed=runtime.totalMemory() - 1)
    assert full_collections() == before + 1
    assert spark.range(10).count() == 10
    # a heap within the bound is left alone: no collection
    before = full_collections()
    assert not release_heap(spark, min_committed=runtime.maxMemory())
    assert full_collections() == before

    class _Remote:
        class sparkContext:  # noqa: N801 - stands for a SparkContext attribute
            master = "yarn"

            @property
            def _jvm(self):
                raise AssertionError("no collection on a cluster's driver")

    assert not release_heap(_Remote())


def test_a_local_jvm_can_give_its_heap_back():
    # the options that let a full collection shrink the heap in one step, to near what
    # is live (with HotSpot's defaults it keeps the planned heap through the factorization)
    assert "-XX:-ShrinkHeapInSteps" in LOCAL_JAVA_OPTIONS
    assert any(opt.startswith("-XX:MaxHeapFreeRatio=") for opt in LOCAL_JAVA_OPTIONS)
