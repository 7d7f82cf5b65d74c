#!/bin/bash
# usage: run.sh NAME [--set k=v ...]  -- factorize dim 300 from /tmp/q300root, save raw vectors to /tmp/q300/runs/NAME
NAME=$1; shift
cd /work/wt-q300 && export PYTHONPATH=/work/wt-q300 PYSPARK_PYTHON=/work/main/.venv/bin/python PYSPARK_DRIVER_PYTHON=/work/main/.venv/bin/python SPARK_LOCAL_IP=127.0.0.1
OUT=/tmp/q300/runs/$NAME; mkdir -p $OUT
echo "cmd: python -m latentspark embeddings --config conf/embeddings.toml --corpus /work/shared/data/corpus24m-tokens --root /tmp/q300root --set tokenize.mode=whitespace --set vocab.min_count=5 --set spark.master=local[2] --set factorize.dim=300 --set factorize.remove_top=0 $* --force" > $OUT/cmd
export OUT; flock /tmp/latentspark-bench.lock bash -c "
 echo lockstart \$(date +%T) load \$(cat /proc/loadavg) > $OUT/meta
 s=\$(date +%s.%N)
 DUMP=$OUT/usv.npz /work/main/.venv/bin/python /tmp/q300/dump.py embeddings --config conf/embeddings.toml --corpus /work/shared/data/corpus24m-tokens --root /tmp/q300root --set tokenize.mode=whitespace --set vocab.min_count=5 --set spark.master=local[2] --set factorize.dim=300 --set factorize.remove_top=0 $* --force > $OUT/log 2>&1
 rc=\$?
 e=\$(date +%s.%N)
 echo rc \$rc wall \$(echo \"\$e - \$s\" | bc) end \$(date +%T) load \$(cat /proc/loadavg) >> $OUT/meta
"
latest=$(ls -td /tmp/q300root/embeddings/2*/ | head -1)
cp -a $latest $OUT/emb
cat $OUT/meta
