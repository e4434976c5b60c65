#!/bin/sh
# Runs `truyvet purge` once a day at PURGE_AT_UTC (HH:MM, UTC; compose: 19:00, 02:00 in Vietnam),
# for the `purge` service of docker-compose.yml. A failed purge (the database restarting) is
# tried again every 10 minutes until it succeeds; the next one is still the next day's.
set -u
at="${PURGE_AT_UTC:-19:00}"
hours="${at%%:*}"
minutes="${at##*:}"
case "$hours:$minutes" in
  [01][0-9]:[0-5][0-9] | 2[0-3]:[0-5][0-9]) ;;
  *) echo "PURGE_AT_UTC must be HH:MM, got '$at'" >&2; exit 2 ;;
esac
target=$(( ${hours#0} * 3600 + ${minutes#0} * 60 ))
while :; do
  now=$(date -u +%s)
  wait=$(( (target - now % 86400 + 86400) % 86400 ))
  echo "next purge in ${wait}s (at ${at} UTC)"
  sleep "$wait"
  until truyvet purge; do
    echo "truyvet purge failed; trying again in 10 minutes" >&2
    sleep 600
  done
  # Past the minute, so the next wait is a whole day rather than none.
  sleep 60
done
