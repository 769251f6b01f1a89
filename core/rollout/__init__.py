"""Champion and challenger: canary and shadow routing, rollback, live comparison per
version, and the automatic rollout that steps a challenger up, promotes it or rolls it
back. Every change goes through core.routing (compare-and-swap, audit record)."""
