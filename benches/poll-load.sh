#!/usr/bin/env bash
# Whole-pass load measurement: N feeds of M items each served on loopback, one watchlist set,
# `feedwatch once --all` twice (first fetch, then a re-poll with nothing new). Prints wall time
# and peak memory of each pass. Usage: benches/poll-load.sh [FEEDS] [ITEMS]
set -euo pipefail
cd "$(dirname "$0")/.."
feeds="${1:-300}"
items="${2:-50}"
cargo build --release --locked --quiet --bin feedwatch
exe="$PWD/target/release/feedwatch"
dir="$(mktemp -d)"
trap 'kill "$server" 2>/dev/null || true; rm -rf "$dir"' EXIT
python3 - "$dir" "$feeds" "$items" <<'PY'
import os, random, sys
d, n, m = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
os.makedirs(f"{d}/www")
rng = random.Random(7)
words = "government minister report attack border talks market election security police court".split()
for f in range(n):
    out = ['<?xml version="1.0"?><rss version="2.0"><channel><title>Feed %d</title>' % f]
    for i in range(m):
        title = " ".join(rng.choice(words) for _ in range(8))
        if rng.random() < 0.02:
            title += " ISIS-K"
        body = " ".join(rng.choice(words) for _ in range(300))
        out.append(f"<item><guid>f{f}-{i}</guid><title>{title}</title><link>https://news{f}.test/{i}</link>"
                   f"<description>&lt;p&gt;{body}&lt;/p&gt;</description></item>")
    out.append("</channel></rss>")
    open(f"{d}/www/feed{f}.xml", "w").write("".join(out))
PY
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
(cd "$dir/www" && exec python3 -m http.server "$port" --bind 127.0.0.1 >/dev/null 2>&1) &
server=$!
sleep 1
{
  printf '[general]\ndatabase = "%s/fw.db"\nalert_on_first_fetch = true\n\n' "$dir"
  for f in $(seq 0 $((feeds - 1))); do
    printf '[[feeds]]\nurl = "http://127.0.0.1:%s/feed%s.xml"\n' "$port" "$f"
  done
  printf '[[watchlists]]\nname = "w"\nterms = ["ISIS-K", "Islamic State Khorasan", "Interpol", "Zürich"]\n'
  printf '[notifiers.out]\ntype = "stdout"\nformat = "json"\n'
} > "$dir/config.toml"
for pass in first re-poll; do
  /usr/bin/time -f "$pass pass: %e s wall, %M KiB peak RSS" "$exe" -q --config "$dir/config.toml" once --all > "$dir/alerts-$pass.jsonl"
  echo "  alerts printed: $(wc -l < "$dir/alerts-$pass.jsonl")"
done
echo "database: $(du -k "$dir/fw.db" | cut -f1) KiB for $((feeds * items)) items"
