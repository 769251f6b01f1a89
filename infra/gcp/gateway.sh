#!/usr/bin/env bash
# Google API Gateway in front of the api function (run by `mlfn deploy gcp`): the API, a new
# API config named by the spec's content hash (configs are immutable), and the gateway
# created or moved to it. The gateway calls the private api function as ACCOUNT, with
# its own ID token; the caller's token travels in X-Forwarded-Authorization, where the
# function (MLFN_GATEWAY=google) checks it again.
#   usage: infra/gcp/gateway.sh NAME PROJECT REGION SPEC ACCOUNT
set -euo pipefail

NAME=${1:?usage: gateway.sh NAME PROJECT REGION SPEC ACCOUNT}
PROJECT=${2:?project}
REGION=${3:?region}
SPEC=${4:?the rendered API config, .build/gcp/gateway.yaml}
ACCOUNT=${5:?the service account the gateway invokes the function as}
CONFIG="${NAME}-$(sha256sum "$SPEC" | cut -c1-12)"
GATEWAY="${NAME}-gw"
where=(--project "$PROJECT")

gcloud api-gateway apis describe "$NAME" "${where[@]}" >/dev/null 2>&1 \
  || gcloud api-gateway apis create "$NAME" "${where[@]}"
gcloud api-gateway api-configs describe "$CONFIG" --api "$NAME" "${where[@]}" >/dev/null 2>&1 \
  || gcloud api-gateway api-configs create "$CONFIG" --api "$NAME" --openapi-spec "$SPEC" \
       --backend-auth-service-account "$ACCOUNT" "${where[@]}"
if gcloud api-gateway gateways describe "$GATEWAY" --location "$REGION" "${where[@]}" >/dev/null 2>&1; then
  gcloud api-gateway gateways update "$GATEWAY" --api "$NAME" --api-config "$CONFIG" \
    --location "$REGION" "${where[@]}"
else
  gcloud api-gateway gateways create "$GATEWAY" --api "$NAME" --api-config "$CONFIG" \
    --location "$REGION" "${where[@]}"
fi
host=$(gcloud api-gateway gateways describe "$GATEWAY" --location "$REGION" "${where[@]}" \
  --format 'value(defaultHostname)')
echo "gateway: https://${host}  (e.g. https://${host}/predict)"
