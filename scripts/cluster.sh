#!/usr/bin/env bash
# A Spark standalone cluster on this machine: one master and two workers on 127.0.0.1, run
# from the pyspark wheel in the virtual environment (which has no start-master.sh, so the
# daemons are started through its sbin/spark-daemon.sh).
#
#   scripts/cluster.sh start    start what is not running, wait for both workers, print the URL
#   scripts/cluster.sh status   print the master's and workers' state; exit 1 if any is down
#   scripts/cluster.sh stop     stop the workers (and their executors) and the master
#
# Environment (defaults in brackets):
#   LATENTSPARK_CLUSTER_DIR      state: pid files, logs, worker work dirs [.cluster in the repo]
#   LATENTSPARK_MASTER_PORT      master RPC port [7077]
#   LATENTSPARK_MASTER_UI_PORT   master web UI port [8080]; /json/ there is what start polls
#   LATENTSPARK_WORKER_UI_PORT   first worker's web UI port, the next gets +1 [8081]
#   LATENTSPARK_WORKER_CORES     cores per worker [1]
#   LATENTSPARK_WORKER_MEMORY    memory per worker for executors [2g]
#   LATENTSPARK_CLUSTER_TIMEOUT  seconds start waits for the workers to register [90]
#   PYSPARK_PYTHON               Python with pyspark, numpy, pyarrow [.venv/bin/python]
#   JAVA_HOME                    Java 17 or 21 [java on the PATH]
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)

STATE=${LATENTSPARK_CLUSTER_DIR:-$repo/.cluster}
HOST=127.0.0.1
MASTER_PORT=${LATENTSPARK_MASTER_PORT:-7077}
MASTER_UI_PORT=${LATENTSPARK_MASTER_UI_PORT:-8080}
WORKER_UI_PORT=${LATENTSPARK_WORKER_UI_PORT:-8081}
WORKER_CORES=${LATENTSPARK_WORKER_CORES:-1}
WORKER_MEMORY=${LATENTSPARK_WORKER_MEMORY:-2g}
TIMEOUT=${LATENTSPARK_CLUSTER_TIMEOUT:-90}
WORKERS=2
MASTER_CLASS=org.apache.spark.deploy.master.Master
WORKER_CLASS=org.apache.spark.deploy.worker.Worker
MASTER_URL="spark://$HOST:$MASTER_PORT"
# spark-daemon.sh names its pid files spark-$SPARK_IDENT_STRING-CLASS-INSTANCE.pid
IDENT=latentspark

say() { printf 'cluster: %s\n' "$*" >&2; }
die() { printf 'cluster: error: %s\n' "$*" >&2; exit 1; }

usage() {
    sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

python_bin() {
    local py=${PYSPARK_PYTHON:-$repo/.venv/bin/python}
    [ -x "$py" ] || command -v "$py" >/dev/null 2>&1 \
        || die "no Python at $py: run scripts/setup.sh or set PYSPARK_PYTHON"
    printf '%s\n' "$py"
}

pid_file() { printf '%s/pids/spark-%s-%s-%s.pid\n' "$STATE" "$IDENT" "$1" "$2"; }

# The pid in a pid file if that process is alive and is a JVM (pids get reused). A daemon
# killed hard can linger as a zombie until its parent reaps it: that counts as dead.
live_pid() {
    local file pid stat
    file=$(pid_file "$1" "$2")
    [ -f "$file" ] || return 1
    pid=$(cat "$file")
    [ -n "$pid" ] && stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
    [[ $stat == "$pid (java) "[^Z]* ]] || return 1
    printf '%s\n' "$pid"
}

port_busy() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

check_java() {
    local java=java
    [ -n "${JAVA_HOME:-}" ] && java="$JAVA_HOME/bin/java"
    command -v "$java" >/dev/null 2>&1 \
        || die "Java not found (Spark needs Java 17 or 21): run scripts/setup.sh as root, or" \
               "install it, e.g. apt-get install openjdk-17-jre-headless, or set JAVA_HOME"
    local major
    major=$("$java" -version 2>&1 | sed -n 's/.* version "\([0-9]*\).*/\1/p' | head -n 1)
    [ -n "$major" ] && [ "$major" -ge 17 ] \
        || die "Spark needs Java 17 or 21; $java is version ${major:-unknown}"
}

check_port() {
    port_busy "$1" && die "port $1 ($2) on $HOST is in use by another process; stop it or" \
        "choose another port with $3"
    return 0
}

# Run spark-daemon.sh with the environment every daemon needs. PYTHONPATH is dropped so that
# executors import latentspark from the --py-files zip of each application, not from
# wherever the shell that started the cluster happened to point.
daemon() {
    env -u PYTHONPATH -u SPARK_NO_DAEMONIZE \
        SPARK_HOME="$SPARK_HOME" SPARK_CONF_DIR="$STATE/conf" \
        SPARK_LOG_DIR="$STATE/logs" SPARK_PID_DIR="$STATE/pids" SPARK_IDENT_STRING=$IDENT \
        SPARK_LOCAL_IP=$HOST PYSPARK_PYTHON="$PYTHON" \
        SPARK_WORKER_OPTS="-Dspark.worker.cleanup.enabled=true" \
        bash "$SPARK_HOME/sbin/spark-daemon.sh" "$@" >/dev/null
}

# "STATUS ALIVE_WORKERS" from the master's web UI JSON, or nothing if it does not answer.
master_json() {
    "$PYTHON" - "http://$HOST:$MASTER_UI_PORT/json/" <<'EOF' 2>/dev/null || true
import json, sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=3) as r:
    info = json.load(r)
alive = [w for w in info.get("workers", []) if w.get("state") == "ALIVE"]
print(info.get("status", "UNKNOWN"), len(alive))
for w in alive:
    print(f"  worker {w.get('id')} {w.get('host')}:{w.get('port')} ALIVE, "
          f"{w.get('cores')} cores, {w.get('memory')} MiB, {w.get('coresused', 0)} cores used")
EOF
}

tail_logs() {
    local f
    for f in "$STATE"/logs/*.out; do
        [ -f "$f" ] || continue
        printf '%s\n' "--- $f" >&2
        tail -n 15 "$f" >&2
    done
}

start() {
    check_java
    mkdir -p "$STATE/conf" "$STATE/logs" "$STATE/pids"
    if live_pid "$MASTER_CLASS" 1 >/dev/null; then
        say "master already running"
    else
        check_port "$MASTER_PORT" "master" LATENTSPARK_MASTER_PORT
        check_port "$MASTER_UI_PORT" "master web UI" LATENTSPARK_MASTER_UI_PORT
        rm -f "$(pid_file "$MASTER_CLASS" 1)"
        say "starting the master at $MASTER_URL (web UI http://$HOST:$MASTER_UI_PORT)"
        daemon start "$MASTER_CLASS" 1 --host "$HOST" --port "$MASTER_PORT" \
            --webui-port "$MASTER_UI_PORT"
    fi
    local deadline=$((SECONDS + TIMEOUT)) i
    until [ -n "$(master_json)" ]; do
        live_pid "$MASTER_CLASS" 1 >/dev/null || { tail_logs; die "the master died; log above"; }
        [ $SECONDS -lt $deadline ] || { tail_logs; die "the master did not answer in ${TIMEOUT}s"; }
        sleep 0.5
    done
    local todo=()
    for i in $(seq 1 $WORKERS); do
        if live_pid "$WORKER_CLASS" "$i" >/dev/null; then
            say "worker $i already running"
        else
            check_port $((WORKER_UI_PORT + i - 1)) "worker $i web UI" LATENTSPARK_WORKER_UI_PORT
            # spark-daemon.sh would refuse to start over the pid file of a killed worker that
            # lingers as a zombie
            rm -f "$(pid_file "$WORKER_CLASS" "$i")"
            todo+=("$i")
        fi
    done
    # in parallel: spark-daemon.sh sleeps a few seconds after each launch
    for i in "${todo[@]}"; do
        local ui=$((WORKER_UI_PORT + i - 1))
        mkdir -p "$STATE/work/worker-$i"
        say "starting worker $i ($WORKER_CORES cores, $WORKER_MEMORY, web UI port $ui)"
        daemon start "$WORKER_CLASS" "$i" --host "$HOST" --webui-port "$ui" \
            --cores "$WORKER_CORES" --memory "$WORKER_MEMORY" \
            --work-dir "$STATE/work/worker-$i" "$MASTER_URL" &
    done
    wait
    local alive
    while :; do
        alive=$(master_json | head -n 1 | cut -d' ' -f2)
        [ "${alive:-0}" -ge $WORKERS ] && break
        for i in $(seq 1 $WORKERS); do
            live_pid "$WORKER_CLASS" "$i" >/dev/null || { tail_logs; die "worker $i died; log above"; }
        done
        [ $SECONDS -lt $deadline ] \
            || { tail_logs; die "${alive:-0} of $WORKERS workers registered in ${TIMEOUT}s"; }
        sleep 0.5
    done
    say "$WORKERS workers registered; logs in $STATE/logs"
    printf '%s\n' "$MASTER_URL"
}

status() {
    local down=0 i pid json
    if pid=$(live_pid "$MASTER_CLASS" 1); then
        echo "master   $MASTER_URL running (pid $pid, web UI http://$HOST:$MASTER_UI_PORT)"
    else
        echo "master   $MASTER_URL not running"
        down=1
    fi
    for i in $(seq 1 $WORKERS); do
        if pid=$(live_pid "$WORKER_CLASS" "$i"); then
            echo "worker $i running (pid $pid)"
        else
            echo "worker $i not running"
            down=1
        fi
    done
    json=$(master_json)
    if [ -n "$json" ]; then
        local head alive
        head=${json%%$'\n'*}
        alive=${head#* }
        echo "master state ${head%% *}, $alive of $WORKERS workers ALIVE"
        printf '%s\n' "$json" | sed -n '2,$p'
        [ "$alive" -ge $WORKERS ] || down=1
    else
        echo "master web UI http://$HOST:$MASTER_UI_PORT/json/ does not answer"
        down=1
    fi
    return $down
}

# TERM, then KILL after a grace period. Executors die with their worker (it kills them on
# TERM, and they exit by themselves once it is gone), but a worker killed hard can leave
# them behind, so its children are collected first and killed too.
stop_pids() {
    local what=$1 pid kids="" k
    shift
    [ $# -gt 0 ] || return 0
    for pid in "$@"; do kids="$kids $(ps -o pid= --ppid "$pid" 2>/dev/null || true)"; done
    say "stopping $what (pid $*)"
    kill -TERM "$@" 2>/dev/null || true
    local deadline=$((SECONDS + 20))
    for pid in "$@"; do
        while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
        kill -0 "$pid" 2>/dev/null && { say "pid $pid did not stop; killing it"; kill -KILL "$pid"; }
    done
    for k in $kids; do kill -KILL "$k" 2>/dev/null || true; done
    return 0
}

stop() {
    local i pid workers=() master=()
    for i in $(seq 1 $WORKERS); do
        pid=$(live_pid "$WORKER_CLASS" "$i") && workers+=("$pid")
    done
    pid=$(live_pid "$MASTER_CLASS" 1) && master+=("$pid")
    stop_pids workers "${workers[@]}"
    stop_pids master "${master[@]}"
    rm -f "$STATE"/pids/spark-$IDENT-*.pid
    [ $((${#workers[@]} + ${#master[@]})) -gt 0 ] && say "stopped" || say "nothing was running"
}

[ $# = 1 ] && [[ $1 =~ ^(start|stop|status)$ ]] || usage
PYTHON=$(python_bin)
case $1 in
    start)
        SPARK_HOME=$("$PYTHON" -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))') \
            || die "$PYTHON cannot import pyspark: run scripts/setup.sh"
        [ -f "$SPARK_HOME/sbin/spark-daemon.sh" ] || die "no sbin/spark-daemon.sh in $SPARK_HOME"
        start ;;
    status) status ;;
    stop) stop ;;
    *) usage ;;
esac
