#!/usr/bin/env bash
# One-time Azure setup for one environment: resource group, storage account (the store's
# container, the training queue, and the Functions host's own storage), Key Vault with the
# JWT secret, and a Python 3.11 Linux function app on the Flex Consumption plan whose managed
# identity reads the secret. Then deploy code with `mlfn deploy azure --env ENV`.
#   usage: infra/azure/setup.sh ENV [LOCATION]     (needs `az login` first)
set -euo pipefail

ENV_NAME=${1:?usage: setup.sh dev|qa|staging|prod [location]}
LOCATION=${2:-eastus}
MODEL=${MLFN_MODEL:-iris}
NAME="mlfn-${MODEL}-${ENV_NAME}"                      # resource group and function app
ACCOUNT=$(echo "mlfn${MODEL}${ENV_NAME}" | tr -cd 'a-z0-9' | cut -c1-24)  # 3-24 a-z0-9
CONTAINER=${MLFN_CONTAINER:-$NAME}                     # the env's store: az://$CONTAINER
VAULT=$(echo "kv-${NAME}" | cut -c1-24)

az group create --name "$NAME" --location "$LOCATION"
az storage account create --name "$ACCOUNT" --resource-group "$NAME" --location "$LOCATION" \
  --sku Standard_LRS --kind StorageV2 --min-tls-version TLS1_2 --allow-blob-public-access false
CONNECTION=$(az storage account show-connection-string --name "$ACCOUNT" \
  --resource-group "$NAME" --query connectionString --output tsv)
az storage container create --name "$CONTAINER" --connection-string "$CONNECTION"
az storage queue create --name mlfn-training --connection-string "$CONNECTION"

az keyvault create --name "$VAULT" --resource-group "$NAME" --location "$LOCATION" \
  --enable-rbac-authorization true
az keyvault secret set --vault-name "$VAULT" --name mlfn-jwt-secret \
  --value "$(openssl rand -hex 32)" --output none
az keyvault secret set --vault-name "$VAULT" --name mlfn-storage-connection \
  --value "$CONNECTION" --output none

az functionapp create --name "$NAME" --resource-group "$NAME" --storage-account "$ACCOUNT" \
  --flexconsumption-location "$LOCATION" --runtime python --runtime-version 3.11 \
  --instance-memory 4096 --assign-identity '[system]'
PRINCIPAL=$(az functionapp identity show --name "$NAME" --resource-group "$NAME" \
  --query principalId --output tsv)
az role assignment create --assignee "$PRINCIPAL" --role "Key Vault Secrets User" \
  --scope "$(az keyvault show --name "$VAULT" --query id --output tsv)"

# Secrets reach the app as Key Vault references, never as plain values.
VAULT_URI="https://${VAULT}.vault.azure.net/secrets"
az functionapp config appsettings set --name "$NAME" --resource-group "$NAME" --settings \
  "MLFN_JWT_SECRET=@Microsoft.KeyVault(SecretUri=${VAULT_URI}/mlfn-jwt-secret/)" \
  "AZURE_STORAGE_CONNECTION_STRING=@Microsoft.KeyVault(SecretUri=${VAULT_URI}/mlfn-storage-connection/)" \
  --output none
echo "ready: set promotion.${ENV_NAME}.store to az://${CONTAINER} and" \
  "promotion.${ENV_NAME}.azure.function_app/resource_group to ${NAME}, then: mlfn deploy azure --env ${ENV_NAME}"
