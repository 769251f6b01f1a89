#!/usr/bin/env bash
# Azure API Management in front of the function app (run by `mlfn deploy azure`): the
# function key as a secret named value, the app's API imported from its OpenAPI schema (one
# operation per route), and the API policy (validate-jwt, rate limit per token subject,
# the function key). The app's HTTP trigger then needs that key (MLFN_AZURE_AUTH_LEVEL=function),
# so only the gateway can call it. In secret mode the gateway checks HS256 tokens with the
# Key Vault secret, as a named value.
#   usage: infra/azure/gateway.sh APP GROUP APIM OPENAPI_JSON POLICY_XML [VAULT]
set -euo pipefail

APP=${1:?usage: gateway.sh APP GROUP APIM OPENAPI_JSON POLICY_XML [VAULT]}
GROUP=${2:?resource group}
APIM=${3:?API Management instance}
SPEC=${4:?.build/azure/apim-openapi.json}
POLICY=${5:?.build/azure/apim-policy.xml}
VAULT=${6:-}
apim=(--resource-group "$GROUP" --service-name "$APIM")

named_value() {  # id, value: create or update a secret named value
  az apim nv show "${apim[@]}" --named-value-id "$1" >/dev/null 2>&1 \
    && az apim nv update "${apim[@]}" --named-value-id "$1" --value "$2" --secret true >/dev/null \
    || az apim nv create "${apim[@]}" --named-value-id "$1" --display-name "$1" --value "$2" \
         --secret true >/dev/null
}

named_value mlfn-function-key "$(az functionapp keys list --name "$APP" \
  --resource-group "$GROUP" --query functionKeys.default --output tsv)"
if [ -n "$VAULT" ]; then
  named_value mlfn-jwt-secret-base64 "$(az keyvault secret show --vault-name "$VAULT" \
    --name mlfn-jwt-secret --query value --output tsv | tr -d '\n' | base64 -w0)"
fi
if grep -q "{{mlfn-gateway-key}}" "$POLICY" \
  && ! az apim nv show "${apim[@]}" --named-value-id mlfn-gateway-key >/dev/null 2>&1; then
  # azure.trust_gateway: one random secret, held by APIM and the app alone, never printed
  key=$(openssl rand -hex 32)
  named_value mlfn-gateway-key "$key"
  az functionapp config appsettings set --name "$APP" --resource-group "$GROUP" \
    --settings "MLFN_GATEWAY_KEY=${key}" --output none
fi
az apim api import "${apim[@]}" --api-id "$APP" --path "" --api-type http --protocols https \
  --specification-format OpenApiJson --specification-path "$SPEC" \
  --service-url "https://${APP}.azurewebsites.net" --subscription-required false
body=$(mktemp)
python3 -c 'import json, sys; print(json.dumps({"properties": {"format": "rawxml", "value": open(sys.argv[1]).read()}}))' "$POLICY" > "$body"
az rest --method put --body "@${body}" --uri "https://management.azure.com/subscriptions/{subscriptionId}/resourceGroups/${GROUP}/providers/Microsoft.ApiManagement/service/${APIM}/apis/${APP}/policies/policy?api-version=2022-08-01"
rm -f "$body"
echo "gateway: https://${APIM}.azure-api.net  (e.g. https://${APIM}.azure-api.net/predict)"
