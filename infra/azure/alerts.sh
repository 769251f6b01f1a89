#!/usr/bin/env bash
# Azure Monitor metric alerts (run by `mlfn deploy azure`), one per line of the file
# `mlfn bundle azure` rendered from core/monitoring/cloud_alerts.py. `az monitor metrics alert
# create` replaces an alert of the same name, so a deploy updates thresholds in place.
#   usage: infra/azure/alerts.sh APP GROUP ALERTS_TSV [ACTION_GROUP_ID] [APP_INSIGHTS_NAME]
set -euo pipefail

APP=${1:?usage: alerts.sh APP GROUP ALERTS_TSV [ACTION_GROUP_ID] [APP_INSIGHTS_NAME]}
GROUP=${2:?resource group}
TSV=${3:?the rendered alerts, .build/azure-alerts/alerts.tsv}
ACTION=${4:-}
INSIGHTS=${5:-}

app_id=$(az functionapp show --name "$APP" --resource-group "$GROUP" --query id --output tsv)
insights_id=""
if [ -n "$INSIGHTS" ]; then
  insights_id=$(az monitor app-insights component show --app "$INSIGHTS" \
    --resource-group "$GROUP" --query id --output tsv)
fi
while IFS=$'\t' read -r name scope severity window condition description; do
  scope_id=$app_id
  if [ "$scope" = insights ]; then
    if [ -z "$insights_id" ]; then
      echo "skipped ${name}: set azure.app_insights to the app's Application Insights component"
      continue
    fi
    scope_id=$insights_id
  fi
  args=(--name "$name" --resource-group "$GROUP" --scopes "$scope_id"
        --condition "$condition" --window-size "$window" --evaluation-frequency 1m
        --severity "$severity" --description "$description")
  if [ -n "$ACTION" ]; then
    args+=(--action "$ACTION")
  fi
  az monitor metrics alert create "${args[@]}" --output none
  echo "metric alert: ${name}"
done < "$TSV"
