#!/usr/bin/env bash
# The AWS CLI against a running Shoal (SHOAL_ENDPOINT): create, put, get, reshard, tag,
# delete. Run by the Rust test `clients::aws_cli_scenario`; AWS_CLI names the binary.
set -euo pipefail
aws_cli=${AWS_CLI:-aws}
export AWS_ACCESS_KEY_ID=AKIDCLI AWS_SECRET_ACCESS_KEY=secret AWS_DEFAULT_REGION=us-east-1
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_PAGER=""
k() { "$aws_cli" --endpoint-url "$SHOAL_ENDPOINT" --output json kinesis "$@"; }
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
fail() { echo "FAIL: $*" >&2; exit 1; }

k create-stream --stream-name cli-scenario --shard-count 2
k wait stream-exists --stream-name cli-scenario
status=$(k describe-stream-summary --stream-name cli-scenario | json 'd["StreamDescriptionSummary"]["StreamStatus"]')
[ "$status" = ACTIVE ] || fail "status $status"

# The CLI v1 base64-encodes --data itself (v2 needs --cli-binary-format raw-in-base64-out).
seq=$(k put-record --stream-name cli-scenario --partition-key b --data hello | json 'd["SequenceNumber"]')
shard=$(k put-record --stream-name cli-scenario --partition-key b --data hello | json 'd["ShardId"]')
[ "$shard" = shardId-000000000001 ] || fail "routed to $shard"
it=$(k get-shard-iterator --stream-name cli-scenario --shard-id shardId-000000000001 \
      --shard-iterator-type AT_SEQUENCE_NUMBER --starting-sequence-number "$seq" | json 'd["ShardIterator"]')
data=$(k get-records --shard-iterator "$it" | json 'd["Records"][0]["Data"]')
[ "$data" = aGVsbG8= ] || fail "read back $data"

k split-shard --stream-name cli-scenario --shard-to-split shardId-000000000000 \
  --new-starting-hash-key 85070591730234615865843651857942052864
k wait stream-exists --stream-name cli-scenario
shards=$(k list-shards --stream-name cli-scenario | json 'len(d["Shards"])')
[ "$shards" = 4 ] || fail "$shards shards after the split"

k add-tags-to-stream --stream-name cli-scenario --tags team=cli,env=test
tags=$(k list-tags-for-stream --stream-name cli-scenario | json '",".join(t["Key"]+"="+t["Value"] for t in d["Tags"])')
[ "$tags" = "env=test,team=cli" ] || fail "tags $tags"

if k describe-stream --stream-name cli-missing 2>/tmp/shoal-cli-err.$$; then fail "missing stream found"; fi
grep -q ResourceNotFoundException /tmp/shoal-cli-err.$$ || fail "wrong error: $(cat /tmp/shoal-cli-err.$$)"
rm -f /tmp/shoal-cli-err.$$

k delete-stream --stream-name cli-scenario
k wait stream-not-exists --stream-name cli-scenario
echo "CLI scenario OK"
