#!/usr/bin/env bash
# Redelivery for the training worker's Pub/Sub trigger (run by `mlfn deploy gcp` after the
# worker deploys): the subscription Eventarc made for the trigger gets a retry policy and a
# dead-letter topic after MAX_DELIVERIES attempts. Messages for finished jobs are
# acknowledged by the worker itself; a message that fails every time lands in
# ${NAME}-training-dead-letter (kept by its subscription, see setup.sh).
#   usage: infra/gcp/worker-delivery.sh NAME PROJECT REGION MAX_DELIVERIES
set -euo pipefail

NAME=${1:?usage: worker-delivery.sh NAME PROJECT REGION MAX_DELIVERIES}
PROJECT=${2:?project}
REGION=${3:?region}
MAX_DELIVERIES=${4:?max deliveries (5 to 100)}

trigger=$(gcloud functions describe "${NAME}-worker" --gen2 --region "$REGION" \
  --project "$PROJECT" --format 'value(eventTrigger.trigger)')
subscription=$(gcloud eventarc triggers describe "$trigger" \
  --format 'value(transport.pubsub.subscription)')
number=$(gcloud projects describe "$PROJECT" --format 'value(projectNumber)')
agent="serviceAccount:service-${number}@gcp-sa-pubsub.iam.gserviceaccount.com"

gcloud pubsub subscriptions update "$subscription" --project "$PROJECT" \
  --dead-letter-topic "${NAME}-training-dead-letter" \
  --max-delivery-attempts "$MAX_DELIVERIES" \
  --min-retry-delay 10s --max-retry-delay 600s
# Pub/Sub's own agent forwards to the dead-letter topic and acknowledges the original.
gcloud pubsub subscriptions add-iam-policy-binding "$subscription" --project "$PROJECT" \
  --member "$agent" --role roles/pubsub.subscriber
gcloud pubsub topics add-iam-policy-binding "${NAME}-training-dead-letter" \
  --project "$PROJECT" --member "$agent" --role roles/pubsub.publisher
echo "redelivery: ${subscription} retries 10s..600s, dead-letters after ${MAX_DELIVERIES}"
