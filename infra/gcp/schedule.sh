#!/usr/bin/env bash
# One of the config's schedules as a Cloud Scheduler job publishing to the worker's topic:
# created, or updated when it exists; deleted when the config no longer sets it (CRON=off).
#   infra/gcp/schedule.sh JOB PROJECT REGION TOPIC CRON MESSAGE     (mlfn deploy gcp runs it)
set -euo pipefail
job=$1 project=$2 region=$3 topic=$4 cron=$5 message=$6
where=(--project="$project" --location="$region")
exists() { gcloud scheduler jobs describe "$job" "${where[@]}" >/dev/null 2>&1; }
if [ "$cron" = "off" ]; then
  if exists; then gcloud scheduler jobs delete "$job" "${where[@]}" --quiet; fi
  exit 0
fi
verb=create
if exists; then verb=update; fi
gcloud scheduler jobs "$verb" pubsub "$job" "${where[@]}" --schedule="$cron" --time-zone=UTC \
  --topic="$topic" --message-body="$message"
