#!/usr/bin/env bash
# Kafka -> Velo -> Kafka throughput for scenarios 0 and 3a (a benchmark, not a
# test). Needs `tansu` (see .ci/run) and a release build of velo-server:
#   cargo build --release -p velo-server && velo-bench/kafka/run.sh [RECORDS]
# For each scenario: fills an input topic (4 partitions) from the generator
# through a Kafka sink, then runs the scenario's SQL from that topic to an
# output topic under `velo-server serve` and times it from the first record in
# to the last, polling GET /jobs/{id} every 50 ms.
set -euo pipefail
cd "$(dirname "$0")/../.."
RECORDS=${1:-1000000}
BIN=target/release/velo-server
PORT=19192
HTTP=18181
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$WORK"' EXIT
export VELO_KAFKA_BROKERS=127.0.0.1:$PORT

tansu broker --listener-url tcp://127.0.0.1:$PORT --advertised-listener-url tcp://127.0.0.1:$PORT \
    --storage-engine memory://tansu/ >"$WORK/tansu.log" 2>&1 &
until (echo >/dev/tcp/127.0.0.1/$PORT) 2>/dev/null; do sleep 0.1; done

$BIN serve --bind 127.0.0.1:$HTTP --partitions 2 2>"$WORK/serve.log" &
until curl -sf localhost:$HTTP/health >/dev/null; do sleep 0.1; done

now() { date +%s.%N; }

scenario() { # id profile schema sql
    local id=$1 profile=$2 schema=$3 sql=$4
    for t in in-$id out-$id; do tansu topic create --broker tcp://127.0.0.1:$PORT --partitions 4 "$t" >/dev/null; done
    cat >"$WORK/fill-$id.sql" <<SQL
CREATE STREAM fill AS SELECT * FROM gen
WITH ('gen.type' = 'generator_source', 'gen.profile' = '$profile', 'gen.records' = '$RECORDS',
      'fill.type' = 'kafka_sink', 'fill.topic' = 'in-$id');
SQL
    local t0; t0=$(now)
    $BIN run "$WORK/fill-$id.sql" 2>"$WORK/fill-$id.log"
    local t1; t1=$(now)
    printf '%-3s fill: generator -> Kafka   %8d records %7.2fs %10.0f rec/s\n' "$id" "$RECORDS" \
        "$(echo "$t1 - $t0" | bc)" "$(echo "$RECORDS / ($t1 - $t0)" | bc)"
    local app="$sql WITH ('src.type' = 'kafka_source', 'src.topic' = 'in-$id', 'src.group.id' = 'bench-$id',
        'src.schema' = '$schema', 'out.type' = 'kafka_sink', 'out.topic' = 'out-$id');"
    local job; job=$(curl -sf -X POST --data-binary "$app" localhost:$HTTP/jobs | sed -E 's/.*"ids":\["([^"]+)".*/\1/')
    local start="" read=0
    while [ "$read" -lt "$RECORDS" ]; do
        read=$(curl -sf localhost:$HTTP/jobs/$job | sed -E 's/.*"in":([0-9]+).*/\1/')
        if [ -z "$start" ] && [ "$read" -gt 0 ]; then start=$(now); fi
        sleep 0.05
    done
    local end; end=$(now)
    local status; status=$(curl -sf localhost:$HTTP/jobs/$job)
    printf '%-3s Kafka -> V2@2 -> Kafka   %8d records %7.2fs %10.0f rec/s  (%s)\n' "$id" "$RECORDS" \
        "$(echo "$end - $start" | bc)" "$(echo "$RECORDS / ($end - $start)" | bc)" \
        "$(echo "$status" | grep -oE '"written":[0-9]+')"
    curl -sf -X DELETE localhost:$HTTP/jobs/$job >/dev/null || true
}

scenario 0 orders 'order_id BIGINT, customer_id BIGINT, order_date VARCHAR, total_amount DOUBLE' \
    "CREATE STREAM out AS SELECT order_id, customer_id, order_date, total_amount FROM src WHERE total_amount > 100"
scenario 3a trades 'trader_id VARCHAR, symbol VARCHAR, price DOUBLE, quantity BIGINT, trade_time BIGINT' \
    "CREATE STREAM out AS SELECT trader_id, symbol, COUNT(*) AS trade_count, AVG(price) AS avg_price, SUM(quantity) AS total_quantity, SUM(price * quantity) AS total_value FROM src GROUP BY trader_id, symbol WINDOW TUMBLING(trade_time, INTERVAL '1' MINUTE)"
