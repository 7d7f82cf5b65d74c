#!/bin/bash
# usage: run.sh NAME ROOT DIM [--set k=v ...] -- factorize from ROOT's counts, save raw U,V,S to /tmp/s18/runs/NAME
NAME=$1; ROOT=$2; DIM=$3; shift 3
cd /work/wt-s18 && export PYTHONPATH=/work/wt-s18 PYSPARK_PYTHON=/work/main/.venv/bin/python PYSPARK_DRIVER_PYTHON=/work/main/.venv/bin/python SPARK_LOCAL_IP=127.0.0.1
OUT=/tmp/s18/runs/$NAME; mkdir -p $OUT
ARGS="embeddings --config conf/embeddings.toml --corpus /work/shared/data/corpus24m-tokens --root $ROOT -q --set tokenize.mode=whitespace --set vocab.min_count=5 --set spark.master=local[2] --set factorize.dim=$DIM --set factorize.remove_top=0 $* --force"
echo "cmd: python -m latentspark $ARGS" > $OUT/cmd
flock /tmp/latentspark-bench.lock bash -c "
 echo lockstart \$(date -u +%T) load \$(cat /proc/loadavg) > $OUT/meta
 s=\$(date +%s.%N)
 DUMP=$OUT/usv.npz /work/main/.venv/bin/python /tmp/s18/dump/dump.py $ARGS > $OUT/log 2>&1
 rc=\$?
 e=\$(date +%s.%N)
 echo rc \$rc wall \$(echo \"\$e - \$s\" | bc) end \$(date -u +%T) load \$(cat /proc/loadavg) >> $OUT/meta
"
latest=$(ls -td $ROOT/embeddings/2*/ | head -1)
cp -a $latest $OUT/emb
cat $OUT/meta
