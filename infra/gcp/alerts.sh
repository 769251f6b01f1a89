#!/usr/bin/env bash
# Cloud Monitoring alert policies (run by `mlfn deploy gcp`): each JSON file `mlfn bundle gcp`
# rendered from core/monitoring/cloud_alerts.py is created, or replaces the policy of the same
# display name, so a deploy updates thresholds instead of piling up copies.
#   usage: infra/gcp/alerts.sh NAME PROJECT DIR
set -euo pipefail

NAME=${1:?usage: alerts.sh NAME PROJECT DIR}
PROJECT=${2:?project}
DIR=${3:?the rendered policies, .build/gcp-alerts}

for file in "$DIR"/*.json; do
  display=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["displayName"])' "$file")
  existing=$(gcloud alpha monitoring policies list --project "$PROJECT" \
    --filter "displayName=\"${display}\"" --format 'value(name)' | head -n 1)
  if [ -n "$existing" ]; then
    gcloud alpha monitoring policies update "$existing" --policy-from-file "$file" --project "$PROJECT"
  else
    gcloud alpha monitoring policies create --policy-from-file "$file" --project "$PROJECT"
  fi
  echo "alert policy: ${display}"
done
echo "alerts for ${NAME}: https://console.cloud.google.com/monitoring/alerting?project=${PROJECT}"
