#!/usr/bin/env bash
# One-time Google Cloud setup for one environment: APIs, the store bucket, the training
# topic, a service account scoped to that bucket and topic, and the JWT secret in Secret
# Manager. Then deploy code with `mlfn deploy gcp --env ENV`.
#   usage: infra/gcp/setup.sh PROJECT ENV [REGION]     (needs `gcloud auth login` first)
set -euo pipefail

PROJECT=${1:?usage: setup.sh PROJECT dev|qa|staging|prod [region]}
ENV_NAME=${2:?usage: setup.sh PROJECT dev|qa|staging|prod [region]}
REGION=${3:-us-central1}
MODEL=${MLFN_MODEL:-iris}
NAME="mlfn-${MODEL}-${ENV_NAME}"
BUCKET=${MLFN_BUCKET:-$NAME}                 # the env's store: gs://$BUCKET
ACCOUNT="${NAME}@${PROJECT}.iam.gserviceaccount.com"

gcloud services enable cloudfunctions.googleapis.com run.googleapis.com \
  cloudbuild.googleapis.com artifactregistry.googleapis.com eventarc.googleapis.com \
  pubsub.googleapis.com secretmanager.googleapis.com cloudscheduler.googleapis.com --project "$PROJECT"

gcloud storage buckets create "gs://${BUCKET}" --project "$PROJECT" --location "$REGION" \
  --uniform-bucket-level-access --public-access-prevention
gcloud storage buckets update "gs://${BUCKET}" --versioning
gcloud pubsub topics create "${NAME}-training" --project "$PROJECT"
# Messages the worker failed on every delivery (see worker-delivery.sh), kept 7 days to read.
gcloud pubsub topics create "${NAME}-training-dead-letter" --project "$PROJECT"
gcloud pubsub subscriptions create "${NAME}-training-dead-letter" --project "$PROJECT" \
  --topic "${NAME}-training-dead-letter" --message-retention-duration 7d
# The job sweep (core/jobs/schedules.py; `mlfn deploy gcp` keeps it in step): a message on
# the training topic every 5 minutes, so the worker recovers jobs whose worker was lost.
gcloud scheduler jobs create pubsub "${NAME}-job-sweep" --project "$PROJECT" \
  --location "$REGION" --schedule "*/5 * * * *" --topic "${NAME}-training" \
  --message-body '{"action": "sweep"}'
gcloud iam service-accounts create "$NAME" --project "$PROJECT" \
  --display-name "mlfn ${MODEL} ${ENV_NAME} functions"

# Least privilege: objects of this bucket, publishing to this topic, this one secret.
gcloud storage buckets add-iam-policy-binding "gs://${BUCKET}" \
  --member "serviceAccount:${ACCOUNT}" --role roles/storage.objectUser
gcloud pubsub topics add-iam-policy-binding "${NAME}-training" --project "$PROJECT" \
  --member "serviceAccount:${ACCOUNT}" --role roles/pubsub.publisher
openssl rand -hex 32 | gcloud secrets create "${NAME}-jwt-secret" --project "$PROJECT" \
  --replication-policy automatic --data-file -
gcloud secrets add-iam-policy-binding "${NAME}-jwt-secret" --project "$PROJECT" \
  --member "serviceAccount:${ACCOUNT}" --role roles/secretmanager.secretAccessor
# The Pub/Sub trigger (Eventarc) invokes the worker as this account.
gcloud projects add-iam-policy-binding "$PROJECT" \
  --member "serviceAccount:${ACCOUNT}" --role roles/run.invoker --condition None

echo "ready: set promotion.${ENV_NAME}.store to gs://${BUCKET} and" \
  "promotion.${ENV_NAME}.gcp.project to ${PROJECT}, then: mlfn deploy gcp --env ${ENV_NAME}"
